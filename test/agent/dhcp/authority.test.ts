// The authoritative-DHCP detector (agent/dhcp/authority.ts) with real programs: agents started as
// `vaquero agent --config FILE` starts them (metrics-agent-child.ts), Debian's dnsmasq as a second DHCP server on
// the same bridge, and busybox udhcpc broadcasting with the broadcast flag (as PXE ROMs do). Three segments at
// once, so the proxy-mode window (10 s) is waited for once:
//  * server mode beside dnsmasq: dnsmasq's address is reported as a conflict in the log, /metrics and /health;
//  * proxy mode beside dnsmasq: dnsmasq is the server relied on, never "missing";
//  * proxy mode alone: the client's DISCOVERs get no address, and "expected DHCP server missing" is reported.
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { SiteModel } from '../../../domain/site-model.ts';
import type { Lan } from '../../../testkit/netns.ts';
import {
  addAddress,
  addBroadcastRoute,
  createLan,
  requireRoot,
  setLinkAddress,
} from '../../../testkit/netns.ts';
import { startNsAgent } from '../support/ns-agent.ts';
import type { NsAgent } from '../support/ns-agent.ts';
import { labSubnet, runUdhcpc, scratch, sleep, startProgram, startUdpPeer } from './support/lab.ts';

requireRoot();

const MAC = '52:54:00:77:83:0a';
const UEFI_PXE = { vendorClass: 'PXEClient:Arch:00007:UNDI:003000', send: ['0x5d:0007'] };

// ---- one segment: an agent, maybe dnsmasq, a client --------------------------------------------------------------

interface Segment {
  prefix: string;
  lan: Lan;
  agent: NsAgent;
  agentIf: string;
  dnsmasq?: ReturnType<typeof startProgram>;
  client: { ns: string; ifname: string };
  cleanup(): Promise<void>;
}

async function startSegment(
  mode: 'server' | 'proxy',
  prefix: string,
  withDnsmasq: boolean,
  dir: string,
): Promise<Segment> {
  const lan = createLan(withDnsmasq ? ['agent', 'dnsmasq', 'client'] : ['agent', 'client']);
  const a = lan.members.agent!;
  const client = lan.members.client!;
  const stops: (() => Promise<void>)[] = [async () => lan.cleanup()];
  const cleanup = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    addAddress(a.ns, a.ifname, `${prefix}.1/24`);
    setLinkAddress(client.ns, client.ifname, MAC);
    let dnsmasq: ReturnType<typeof startProgram> | undefined;
    if (withDnsmasq) {
      const d = lan.members.dnsmasq!;
      addAddress(d.ns, d.ifname, `${prefix}.2/24`);
      const conf = path.join(dir, `dnsmasq-${prefix}.conf`);
      writeFileSync(
        conf,
        [
          'port=0',
          `interface=${d.ifname}`,
          'bind-interfaces',
          'no-ping',
          `dhcp-range=${prefix}.100,${prefix}.150,255.255.255.0,5m`,
          `dhcp-leasefile=${path.join(dir, `dnsmasq-${prefix}.leases`)}`,
          'dhcp-authoritative',
          'log-dhcp',
          '',
        ].join('\n'),
      );
      dnsmasq = startProgram(d.ns, 'dnsmasq', [
        '--keep-in-foreground',
        '--log-facility=-',
        `--conf-file=${conf}`,
        '--user=root',
      ]);
      stops.push(() => dnsmasq!.stop());
    }
    const configFile = path.join(dir, `agent-${prefix}.yml`);
    writeFileSync(
      configFile,
      [
        `agent_id: authority-${mode}`,
        'site: lab',
        `data_dir: ${path.join(dir, `data-${prefix}`)}`,
        'temporal: { address: 127.0.0.1:1, codec: { off: true } }', // never reached
        `interfaces: [{ name: ${a.ifname}, address: ${prefix}.1, cidr: ${prefix}.1/24 }]`,
        `dhcp: { enabled: true, mode: ${mode}, lease_seconds: 600 }`,
        'tftp: { enabled: false }',
        'http: { listen: 0.0.0.0, port: 8080 }',
        'log_level: info',
      ].join('\n'),
    );
    const agent = await startNsAgent(a.ns, configFile);
    stops.push(() => agent.stop());
    const model: SiteModel = {
      sot: 'lab',
      revision: 'r1',
      site: 'lab',
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
    return {
      prefix,
      lan,
      agent,
      agentIf: a.ifname,
      ...(dnsmasq ? { dnsmasq } : {}),
      client,
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

// ---- reading what the agent reports ----------------------------------------------------------------------------

/** The samples of `name` in a scrape, each as its label text and value. */
function samples(text: string, name: string): { labels: string; value: number }[] {
  const out: { labels: string; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.push({ labels: m[2] ?? '', value: Number(m[3]) });
  }
  return out;
}

async function metrics(agent: NsAgent): Promise<string> {
  const r = await agent.get('/metrics');
  assert.equal(r.status, 200, r.body);
  return r.body;
}

interface AuthorityJson {
  foreignServers: { serverId: string; source: string; interface: string }[];
  foreignReplies: number;
  authoritativeSeen: boolean | null;
  missingEpisodes: number;
  missingSince?: number;
}

async function healthAuthority(agent: NsAgent): Promise<AuthorityJson> {
  const r = await agent.get('/health');
  const body = JSON.parse(r.body) as { services: { dhcp: { authority: AuthorityJson } } };
  return body.services.dhcp.authority;
}

const logged = (agent: NsAgent, pattern: RegExp): string[] =>
  agent.logs.map((l) => String(l.msg ?? '')).filter((m) => pattern.test(m));

test('another DHCP server on the segment: a conflict in server mode, the server relied on in proxy mode, missing when absent', async (t) => {
  const tmp = scratch();
  chmodSync(tmp.dir, 0o755);
  t.after(() => tmp.remove());
  const [server, proxy, alone] = await Promise.all([
    startSegment('server', '10.77.83', true, tmp.dir),
    startSegment('proxy', '10.77.84', true, tmp.dir),
    startSegment('proxy', '10.77.85', false, tmp.dir),
  ]);
  t.after(async () => {
    await Promise.all([server.cleanup(), proxy.cleanup(), alone.cleanup()]);
  });

  const started = Date.now();
  const [sv, px, al] = await Promise.all(
    [server, proxy, alone].map((s) =>
      runUdhcpc(s.client.ns, s.client.ifname, tmp.dir, {
        ...UEFI_PXE,
        broadcast: true,
        tries: 2,
        tag: `client-${s.prefix}`,
      }),
    ),
  );
  // Beside dnsmasq the client gets an address (from either server in server mode, from dnsmasq in proxy mode).
  assert.equal(sv!.code, 0, sv!.output);
  assert.equal(px!.code, 0, px!.output);
  assert.match(px!.env?.ip ?? '', /^10\.77\.84\.1[0-5]\d$/, px!.output);
  // Alone, the proxy-mode agent gives no address: the client's DISCOVERs go unanswered.
  assert.equal(al!.env, undefined, al!.output);

  // Server mode: dnsmasq (10.77.83.2) is a conflict, in the log, /metrics and /health.
  // Whichever packet shows it first names it: dnsmasq's own answer (its server id), or the client's REQUEST
  // choosing dnsmasq's offer (which a loaded machine can deliver to the agent first).
  const conflict = logged(server.agent, /another DHCP server answers on/);
  assert.equal(conflict.length, 1, `logged once: ${conflict.join(' | ')}`);
  assert.match(
    conflict[0]!,
    new RegExp(
      `^dhcp: another DHCP server answers on ${server.agentIf}: 10\\.77\\.83\\.2 \\((server id 10\\.77\\.83\\.2|named by a client REQUEST)\\): a conflict in server mode$`,
    ),
  );
  assert.ok(
    server.agent.logs.some((l) => l.msg === conflict[0] && l.level === 40),
    'the conflict is a warning',
  );
  const sm = await metrics(server.agent);
  assert.deepEqual(samples(sm, 'vaquero_agent_dhcp_foreign_servers'), [
    { labels: '{mode="server"}', value: 1 },
  ]);
  assert.deepEqual(samples(sm, 'vaquero_agent_dhcp_foreign_server_info'), [
    {
      labels: `{server_id="10.77.83.2",source="10.77.83.2",interface="${server.agentIf}",role="conflict"}`,
      value: 1,
    },
  ]);
  const answers = samples(sm, 'vaquero_agent_dhcp_foreign_replies_total').find((s) =>
    s.labels.includes('kind="answer"'),
  );
  assert.ok(answers && answers.value >= 1, sm);
  assert.deepEqual(samples(sm, 'vaquero_agent_dhcp_authoritative_seen'), [], 'server mode has no such gauge');
  const sh = await healthAuthority(server.agent);
  assert.deepEqual(
    sh.foreignServers.map((s) => [s.serverId, s.source, s.interface]),
    [['10.77.83.2', '10.77.83.2', server.agentIf]],
  );

  // Malformed datagrams to the client port's broadcast address are dropped and counted as malformed, as on 67.
  const malformed = (text: string): number =>
    samples(text, 'vaquero_agent_dhcp_refusals_total').find((x) => x.labels.includes('reason="malformed"'))
      ?.value ?? -1;
  const before = malformed(sm);
  addBroadcastRoute(server.client.ns, server.client.ifname);
  const peer = await startUdpPeer(server.client.ns);
  t.after(() => peer.stop());
  await peer.open('g', '0.0.0.0', 0);
  const garbage = [Buffer.alloc(20, 0x02), Buffer.concat([Buffer.from([2]), Buffer.alloc(299, 0xff)])];
  const s = await peer.send('g', '255.255.255.255', 68, garbage);
  assert.deepEqual(s, { sent: 2, errors: [] });
  let after = before;
  for (let i = 0; i < 20 && after < before + 2; i++) {
    await sleep(100);
    after = malformed(await metrics(server.agent));
  }
  assert.equal(after, before + 2);
  assert.equal((await healthAuthority(server.agent)).foreignServers.length, 1, 'still only dnsmasq');

  // Proxy mode: wait out the window after the clients' DISCOVERs.
  await sleep(Math.max(0, started + 11_500 - Date.now()));

  // Beside dnsmasq: the server relied on is seen (an info line, not a warning), never missing.
  assert.deepEqual(logged(proxy.agent, /expected DHCP server missing/), []);
  const relied = proxy.agent.logs.filter((l) => /another DHCP server answers on/.test(String(l.msg ?? '')));
  assert.deepEqual(
    relied.map((l) => [l.level, l.msg]),
    [
      [
        30,
        `dhcp: another DHCP server answers on ${proxy.agentIf}: 10.77.84.2 (server id 10.77.84.2): ` +
          'the site DHCP server this proxy-mode agent relies on',
      ],
    ],
  );
  const pm = await metrics(proxy.agent);
  assert.deepEqual(samples(pm, 'vaquero_agent_dhcp_authoritative_seen'), [
    { labels: '{mode="proxy"}', value: 1 },
  ]);
  assert.deepEqual(samples(pm, 'vaquero_agent_dhcp_foreign_server_info'), [
    {
      labels: `{server_id="10.77.84.2",source="10.77.84.2",interface="${proxy.agentIf}",role="authoritative"}`,
      value: 1,
    },
  ]);
  const ph = await healthAuthority(proxy.agent);
  assert.equal(ph.authoritativeSeen, true);
  assert.equal(ph.missingEpisodes, 0);

  // Alone: missing, once, in the log, /metrics and /health.
  const missing = logged(alone.agent, /expected DHCP server missing/);
  assert.equal(missing.length, 1, alone.agent.logs.map((l) => l.msg).join('\n'));
  assert.match(
    missing[0]!,
    new RegExp(`^dhcp: expected DHCP server missing on ${alone.agentIf}: \\d+ DISCOVER`),
  );
  const am = await metrics(alone.agent);
  assert.deepEqual(samples(am, 'vaquero_agent_dhcp_authoritative_seen'), [
    { labels: '{mode="proxy"}', value: 0 },
  ]);
  assert.deepEqual(samples(am, 'vaquero_agent_dhcp_foreign_servers'), [
    { labels: '{mode="proxy"}', value: 0 },
  ]);
  const ah = await healthAuthority(alone.agent);
  assert.equal(ah.authoritativeSeen, false);
  assert.equal(ah.missingEpisodes, 1);
  assert.ok(ah.missingSince !== undefined && ah.missingSince >= started - 1000);
});
