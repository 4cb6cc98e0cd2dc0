// The authoritative-DHCP detector seen in the site's status, with real parts end to end: agents started as
// `vaquero agent --config FILE` starts them (ns-agent.ts), each in a network namespace whose loopback reaches a real
// Temporal dev server (netns-helper.ts through a unix socket) with the control worker running; Debian's dnsmasq as a
// second DHCP server beside the server-mode agent; busybox udhcpc as the PXE client; the server's API and index over
// the same Temporal (harness.ts stackApp). Two segments at once, so the proxy-mode window (10 s) is waited for once:
//  * server mode beside dnsmasq: GET /sites lists, for that agent, dnsmasq's address as a conflict and when it was
//    last seen; the dashboard and `vaquero status` show it;
//  * proxy mode alone: the hosts' DISCOVERs go unanswered, and GET /sites says the expected server is missing.
// The report path is one agentStatus workflow per agent, signalled on change only: its history stays a handful of
// events however many packets the segment saw.
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { agentStatusWorkflowId } from '../../../domain/agent-status.ts';
import type { AgentStatusReport } from '../../../domain/agent-status.ts';
import type { SiteModel } from '../../../domain/site-model.ts';
import { serveUnixToTcp } from '../../../lab/forward.ts';
import { runCli } from '../../../testkit/cli.ts';
import { startNetnsHelper } from '../../../testkit/netns-helper.ts';
import { addAddress, createLan, requireRoot, setLinkAddress } from '../../../testkit/netns.ts';
import { startTestStack } from '../../../testkit/stack.ts';
import { waitFor } from '../../../testkit/workflows.ts';
import { call, READ_TOKEN, stackApp, testConfig } from '../../server/support/harness.ts';
import { startNsAgent } from '../support/ns-agent.ts';
import { labSubnet, runUdhcpc, scratch, startProgram } from './support/lab.ts';

requireRoot();

const SITE = 'segments';
const MAC = '52:54:00:77:86:0a';
const UEFI_PXE = { vendorClass: 'PXEClient:Arch:00007:UNDI:003000', send: ['0x5d:0007'] };

interface SiteRow {
  site: string;
  hosts: number;
  alerts: number;
  agents: (AgentStatusReport & { alerts: string[] })[];
}

test("the site's status shows a DHCP conflict in server mode and the expected server missing in proxy mode", async (t) => {
  const tmp = scratch();
  chmodSync(tmp.dir, 0o755);
  const cleanup: (() => Promise<void> | void)[] = [() => tmp.remove()];
  t.after(async () => {
    for (const fn of cleanup.reverse()) await Promise.resolve(fn()).catch(() => undefined);
  });

  const stack = await startTestStack({ name: 'authority-site-status' });
  cleanup.push(() => stack.close());
  const server = await stackApp(stack, await testConfig({ dataDir: path.join(tmp.dir, 'server') }));
  cleanup.push(() => server.close());
  // Temporal's frontend, for the agents' namespaces, through a unix socket (lab/forward.ts).
  const socket = path.join(tmp.dir, 'temporal.sock');
  const forward: Server = await serveUnixToTcp(socket, Number(stack.address.split(':').pop()));
  cleanup.push(() => new Promise<void>((r) => forward.close(() => r())));

  /** One segment: an agent (in `mode`), maybe dnsmasq, a client. */
  async function segment(agentId: string, mode: 'server' | 'proxy', prefix: string, withDnsmasq: boolean) {
    const lan = createLan(withDnsmasq ? ['agent', 'dnsmasq', 'client'] : ['agent', 'client']);
    cleanup.push(() => lan.cleanup());
    const a = lan.members.agent!;
    const client = lan.members.client!;
    addAddress(a.ns, a.ifname, `${prefix}.1/24`);
    setLinkAddress(client.ns, client.ifname, MAC);
    if (withDnsmasq) {
      const d = lan.members.dnsmasq!;
      addAddress(d.ns, d.ifname, `${prefix}.2/24`);
      const conf = path.join(tmp.dir, `dnsmasq-${prefix}.conf`);
      writeFileSync(
        conf,
        [
          'port=0',
          `interface=${d.ifname}`,
          'bind-interfaces',
          'no-ping',
          `dhcp-range=${prefix}.100,${prefix}.150,255.255.255.0,5m`,
          `dhcp-leasefile=${path.join(tmp.dir, `dnsmasq-${prefix}.leases`)}`,
          'dhcp-authoritative',
          '',
        ].join('\n'),
      );
      const dnsmasq = startProgram(d.ns, 'dnsmasq', [
        '--keep-in-foreground',
        '--log-facility=-',
        `--conf-file=${conf}`,
        '--user=root',
      ]);
      cleanup.push(() => dnsmasq.stop());
    }
    const helper = await startNetnsHelper(a.ns, { temporal: { port: 7233, socket } });
    cleanup.push(() => helper.stop());
    const configFile = path.join(tmp.dir, `agent-${prefix}.yml`);
    writeFileSync(
      configFile,
      [
        `agent_id: ${agentId}`,
        `site: ${SITE}`,
        `data_dir: ${path.join(tmp.dir, `data-${prefix}`)}`,
        `temporal: { address: "${helper.temporalAddress}", namespace: ${stack.namespace}, codec: ${JSON.stringify(stack.codec)} }`,
        `interfaces: [{ name: ${a.ifname}, address: ${prefix}.1, cidr: ${prefix}.1/24 }]`,
        `dhcp: { enabled: true, mode: ${mode}, lease_seconds: 600 }`,
        'tftp: { enabled: false }',
        'http: { listen: 0.0.0.0, port: 8080 }',
        'log_level: info',
      ].join('\n'),
    );
    const agent = await startNsAgent(a.ns, configFile);
    cleanup.push(() => agent.stop());
    const model: SiteModel = {
      sot: 'lab',
      revision: 'r1',
      site: SITE,
      httpUrl: `http://${prefix}.1:8080`,
      dhcpMode: mode,
      subnets: [labSubnet(prefix)],
      reservations: [
        {
          host: 'node0',
          mac: MAC,
          ...(mode === 'server' ? { ipv4: `${prefix}.10` } : {}),
          subnet: 'lab',
          hostname: 'node0',
        },
      ],
    };
    await agent.call({ op: 'siteModel', model });
    return { agent, agentIf: a.ifname, client, prefix };
  }

  const [conflicted, alone] = await Promise.all([
    segment('edge-server', 'server', '10.77.86', true),
    segment('edge-proxy', 'proxy', '10.77.87', false),
  ]);

  const sites = async (): Promise<SiteRow[]> => {
    const r = await call(server.app, 'GET', '/sites', { token: READ_TOKEN });
    if (r.status !== 200) return [];
    return r.json.sites as SiteRow[];
  };
  const agentRow = async (id: string) =>
    (await sites()).find((s) => s.site === SITE)?.agents.find((a) => a.agent === id);

  // Each agent reports at its first check, before anything is wrong: no alerts.
  await waitFor(
    'both agents reported a clean segment',
    async () => {
      const row = (await sites()).find((s) => s.site === SITE);
      return row?.agents.length === 2 && row.alerts === 0 ? row : undefined;
    },
    { timeoutMs: 90_000 },
  );

  const started = Date.now();
  const [sv, al] = await Promise.all(
    [conflicted, alone].map((s) =>
      runUdhcpc(s.client.ns, s.client.ifname, tmp.dir, {
        ...UEFI_PXE,
        broadcast: true,
        tries: 2,
        tag: `client-${s.prefix}`,
      }),
    ),
  );
  assert.equal(sv!.code, 0, sv!.output);
  assert.equal(al!.env, undefined, al!.output);

  // Server mode: dnsmasq answers beside the agent: a conflict, with its address and when it was last seen.
  const server1 = await waitFor(
    'the conflict in GET /sites',
    async () => {
      const a = await agentRow('edge-server');
      return a?.dhcp && a.dhcp.conflicts.length > 0 ? a : undefined;
    },
    { timeoutMs: 60_000 },
  );
  assert.equal(server1.dhcp!.mode, 'server');
  assert.deepEqual(
    server1.dhcp!.conflicts.map((c) => [c.serverId, c.source, c.interface, c.givesAddresses]),
    [['10.77.86.2', '10.77.86.2', conflicted.agentIf, true]],
  );
  const lastSeen = Date.parse(server1.dhcp!.conflicts[0]!.lastSeen);
  assert.ok(lastSeen >= started - 1000 && lastSeen <= Date.now(), server1.dhcp!.conflicts[0]!.lastSeen);
  assert.equal(server1.dhcp!.expectedServerMissingSince, undefined);
  assert.deepEqual(server1.alerts, [
    `DHCP conflict: 10.77.86.2 answers on ${conflicted.agentIf}, last seen ${server1.dhcp!.conflicts[0]!.lastSeen}`,
  ]);

  // Proxy mode alone: after the 10 s window, the expected server is missing.
  const proxy = await waitFor(
    'the missing server in GET /sites',
    async () => {
      const a = await agentRow('edge-proxy');
      return a?.dhcp?.expectedServerMissingSince !== undefined ? a : undefined;
    },
    { timeoutMs: 60_000 },
  );
  assert.equal(proxy.dhcp!.mode, 'proxy');
  assert.deepEqual(proxy.dhcp!.conflicts, []);
  const since = Date.parse(proxy.dhcp!.expectedServerMissingSince!);
  assert.ok(since >= started - 1000 && since <= Date.now(), proxy.dhcp!.expectedServerMissingSince);
  assert.match(proxy.alerts[0]!, /^expected DHCP server missing since /);
  const row = (await sites()).find((s) => s.site === SITE)!;
  assert.equal(row.alerts, 2);
  assert.equal(row.hosts, 0, 'a site with agents but no host runs is listed');

  // The dashboard's fleet page lists both under "Site networks".
  const login = await server.app.inject({
    method: 'POST',
    url: '/ui/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: `token=${encodeURIComponent(READ_TOKEN)}`,
  });
  assert.equal(login.statusCode, 303, login.body);
  const cookie = String(login.headers['set-cookie']).split(';')[0]!;
  const page = await server.app.inject({ method: 'GET', url: '/', headers: { cookie } });
  assert.equal(page.statusCode, 200);
  const networks = /<section id="segments">[\s\S]*?<\/section>/.exec(page.body)?.[0] ?? '';
  assert.match(networks, /Site networks/);
  assert.match(
    networks,
    new RegExp(`data-agent="${SITE}/edge-server"[\\s\\S]*DHCP conflict: 10\\.77\\.86\\.2 answers on`),
  );
  assert.match(
    networks,
    new RegExp(`data-agent="${SITE}/edge-proxy"[\\s\\S]*expected DHCP server missing since`),
  );

  // `vaquero status` (straight from Temporal) prints both alerts under the (empty) host table.
  const status = await runCli(stack, ['status', '--site', SITE]);
  assert.match(
    status.stdout,
    new RegExp(`site ${SITE} agent edge-server: DHCP conflict: 10\\.77\\.86\\.2 answers on`),
  );
  assert.match(
    status.stdout,
    new RegExp(`site ${SITE} agent edge-proxy: expected DHCP server missing since`),
  );
  const json = JSON.parse((await runCli(stack, ['status', '--json', '--site', SITE])).stdout) as {
    agents: AgentStatusReport[];
  };
  assert.deepEqual(
    json.agents.map((a) => a.agent),
    ['edge-proxy', 'edge-server'],
  );

  // Changes only: each agent's status workflow holds a few reports, not one per packet.
  for (const id of ['edge-server', 'edge-proxy']) {
    const history = await stack.client.workflow.getHandle(agentStatusWorkflowId(SITE, id)).fetchHistory();
    const signals = (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes);
    assert.ok(signals.length >= 2 && signals.length <= 3, `${id}: ${signals.length} reports`);
  }
});
