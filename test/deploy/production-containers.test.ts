// The image's server and agent containers on a production Temporal over mTLS (issue 13, item 3): temporal-server
// built from go.temporal.io/server on PostgreSQL from Debian's packages, with mTLS on its frontend
// (temporal/production-server.ts); `vaquero server` and `vaquero agent` from the image built as CI builds it
// (testkit/image.ts), each configured only as README.md's "Deploy" tells an operator: the server by its config file
// and TEMPORAL_* variables naming mounted TLS files, the agent by its config file naming them.
//
// Where each runs:
//  - the server: its own network namespace with slirp4netns (as test/deploy/image.test.ts runs it), its port
//    published on the host's loopback only; it reaches the frontend on the host's loopback as 10.0.2.2. Not the
//    host network: deploy/server.yml listens on 0.0.0.0, which must stay inside the container's namespace here.
//  - the agents: the host network of a namespace this test makes (`--network ns:/run/netns/NS`), root with every
//    capability dropped but CAP_NET_BIND_SERVICE. The frontend appears on that namespace's 127.0.0.1:7233 through
//    a TCP forwarder (testkit/netns-helper.ts) whose bytes are the TLS session itself: the mTLS is end to end.
//
// Then: sim hosts (SimFleet) behind Redfish BMCs in that namespace (testkit/sim-redfish.ts), driven by the agent
// container's redfish driver and booting through its DHCP, TFTP and HTTP, complete a rollout started through the
// server's REST API; a second rollout completes with temporal-server SIGKILLed and restarted mid-rollout, every
// host provisioned with one power cycle per boot stage (the host workflows' status), as many power-ons as without
// the kill (the BMCs' own count), every boot stage's events, and neither container restarted. Last, one lab QEMU
// VM whose BMC is ipmi_sim on the namespace's loopback is rolled out through a second agent container serving the
// lab bridge on ports 67/69.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { parse, stringify } from 'yaml';
import { prepareLabAssets } from '../../lab/assets.ts';
import { serveUnixToTcp } from '../../lab/forward.ts';
import { writeLabSot } from '../../lab/sot.ts';
import { TINY_MARKERS } from '../../lab/tiny-initrd.ts';
import type { LabNetwork } from '../../lab/topology.ts';
import { createLabNetwork, destroyLabNetwork } from '../../lab/topology.ts';
import type { HostStatus } from '../../domain/host.ts';
import type { RolloutResult } from '../../domain/rollout.ts';
import { siteTaskQueue } from '../../domain/temporal-names.ts';
import { connectTemporal } from '../../temporal/connection.ts';
import type { TemporalConnection } from '../../temporal/connection.ts';
import { freePort } from '../../temporal/ports.ts';
import type { ProductionTemporal } from '../../temporal/production-server.ts';
import { installQuietRuntime } from '../../temporal/runtime.ts';
import { containers } from '../../testkit/containers.ts';
import type { Containers } from '../../testkit/containers.ts';
import { AGENT_RUN_FLAGS, PROJECT_ROOT, ensureVaqueroImage } from '../../testkit/image.ts';
import type { VaqueroImage } from '../../testkit/image.ts';
import { requireRoot } from '../../testkit/netns.ts';
import { startNetnsHelper } from '../../testkit/netns-helper.ts';
import type { NetnsHelper, SimCounts } from '../../testkit/netns-helper.ts';
import { startTestProductionTemporal } from '../../testkit/production-temporal.ts';
import { useSimRedfishBmcs } from '../../testkit/sim-redfish.ts';
import { changeKernel, writeSot } from '../../testkit/sot.ts';
import { FAST_SIM_DELAYS } from '../../testkit/stack.ts';
import type { TestPki } from '../../testkit/tls-proxy.ts';
import { hostStatus, rolloutResult, waitFor } from '../../testkit/workflows.ts';

requireRoot();

const say = (m: string): void => void process.stderr.write(`# prod-containers: ${m}\n`);
const UID = 10001;
const TOKEN = 'production-containers-operate-token-0123';
const tag = `${process.pid % 100000}`;
const PREFIX = '10.77.63';
/** Inside the namespace. */
const NS_TEMPORAL_PORT = 7233;
const SIM = { httpPort: 8081, dhcpPort: 1067, relayPort: 1068, tftpPort: 1069, proxyPort: 14011 };
const SIM_BMC_BASE_PORT = 8101;
const VM_BMC_PORT = 9623;

const SIM_SOT = 'prodsot';
const SIM_SITE = 'prodsite';
const SIM_AGENT = 'prodsite-agent';
const SIM_SOT_AGENT_URL = 'http://10.20.0.2:8080';
const HOSTS = ['p1', 'p2', 'p3'];
const STAGES = 2;
/** What the agent sees of every boot stage of a sim host (as test/temporal/production-temporal.test.ts). */
const SEEN_EACH_STAGE = ['dhcp', 'ipxe', 'kernel', 'initrd', 'config', 'checkpoint'];
const OUTAGE_MS = 2_000;

const LAB_SOT = 'labvm';
const LAB_SITE = 'labvm';
const LAB_AGENT = 'labvm-agent';
const VM = { name: 'vm-1', mac: '52:54:00:77:63:0a', ipv4: `${PREFIX}.10` };

const times: Record<string, number> = {};

describe('server and agent containers on a production Temporal over mTLS', { timeout: 900_000 }, () => {
  let img: VaqueroImage;
  let dir: string;
  let production: ProductionTemporal;
  let pki: TestPki;
  let net: LabNetwork | undefined;
  let forward: Server | undefined;
  let helper: NetnsHelper | undefined;
  let c: Containers;
  let temporal: TemporalConnection;
  let server = '';
  let api = '';
  let simAgent = '';
  const bmc = { username: 'admin', password: 'sim-bmc-password-0123' };
  const dirs = { agentTls: '', serverTls: '', sots: '', assets: '' };
  /** The payload key: this test's file and the server's and agents' copies of it. */
  const codecKeys = { test: '', server: '', agent: '' };
  const t0 = Date.now();

  before(async () => {
    installQuietRuntime();
    let t = Date.now();
    img = await ensureVaqueroImage((m) => say(`image: ${m}`));
    times['image (cached unless its inputs changed)'] = Date.now() - t;
    say(`${img.image}: ${(img.sizeBytes / 1e6).toFixed(0)} MB`);
    c = containers(img.env, `vq-prodc-${tag}`);
    dir = await mkdtemp(path.join(tmpdir(), 'vq-prodc-'));
    // PostgreSQL runs as its own user: it must get through to its directory below.
    await chmod(dir, 0o711);
    t = Date.now();
    ({ server: production, pki } = await startTestProductionTemporal(path.join(dir, 'prod'), {
      log: (m) => say(m),
    }));
    times['production Temporal first start'] = Date.now() - t;
    // The payload key the server, the agents and this test share (README.md, "Payload encryption"): the server's
    // copy is its user's, the agents' root's (no CAP_DAC_OVERRIDE in their containers).
    codecKeys.test = path.join(dir, 'codec-key');
    await writeFile(codecKeys.test, `${randomBytes(32).toString('hex')}\n`, { mode: 0o400 });
    for (const [name, uid] of [
      ['server', UID],
      ['agent', 0],
    ] as const) {
      codecKeys[name] = path.join(dir, `codec-key-${name}`);
      await copyFile(codecKeys.test, codecKeys[name]);
      await chown(codecKeys[name], uid, uid);
    }
    temporal = await connectTemporal({
      dataDir: path.join(dir, 'client'),
      env: { ...process.env, ...production.clientEnv },
      codec: { keys: [{ id: 'k1', file: codecKeys.test }] },
    });
    assert.equal(temporal.embedded, false);

    // TLS material as an operator mounts it: the agents run as root in their containers (with no
    // CAP_DAC_OVERRIDE, so root owns the files), the server as the image's user.
    dirs.agentTls = path.join(dir, 'tls-agent');
    dirs.serverTls = path.join(dir, 'tls-server');
    for (const [d, uid] of [
      [dirs.agentTls, 0],
      [dirs.serverTls, UID],
    ] as const) {
      await mkdir(d, { mode: 0o755 });
      for (const [from, to] of [
        [pki.ca, 'ca.pem'],
        [pki.clientCert, 'client.pem'],
        [pki.clientKey, 'client.key'],
      ] as const) {
        await copyFile(from, path.join(d, to));
        await chown(path.join(d, to), uid, uid);
        await chmod(path.join(d, to), to.endsWith('.key') ? 0o400 : 0o444);
      }
    }

    // The namespace: the lab bridge (the VM's tap, the lab agent's address) and the agents' loopback.
    net = createLabNetwork({ name: `vqd${tag}`, prefix: PREFIX, taps: 1 });
    const socket = path.join(dir, 'temporal.sock');
    const frontendPort = Number(production.address.split(':').pop());
    forward = await serveUnixToTcp(socket, frontendPort);
    helper = await startNetnsHelper(net.ns, { temporal: { port: NS_TEMPORAL_PORT, socket } });

    // Both SoTs, in the folder the server's config names (mounted read-only).
    dirs.sots = path.join(dir, 'sots');
    await mkdir(dirs.sots, { mode: 0o755 });
    await writeSimSot(dirs.sots);
    await writeLabSot(dirs.sots, {
      sot: LAB_SOT,
      site: LAB_SITE,
      agentId: LAB_AGENT,
      agentUrl: `http://${net.address}:8080`,
      dhcpMode: 'server',
      cidr: net.cidr,
      gateway: net.address,
      hosts: [
        {
          name: VM.name,
          mac: VM.mac,
          ipv4: VM.ipv4,
          bmc: {
            address: `127.0.0.1:${VM_BMC_PORT}`,
            credentials: `${VM.name}-bmc`,
            options: { timeout_s: 6 },
          },
          metadata: { firmware: 'bios' },
        },
      ],
    });
    execFileSync('chmod', ['-R', 'a+rX', dirs.sots]);

    // The server: deploy/server.yml as shipped, with the SoTs listed (what an operator edits).
    const serverYml = parse(
      await readFile(path.join(PROJECT_ROOT, 'deploy', 'server.yml'), 'utf8'),
    ) as Record<string, unknown>;
    serverYml.sots = [
      { name: SIM_SOT, dir: `/srv/sot/${SIM_SOT}` },
      { name: LAB_SOT, dir: `/srv/sot/${LAB_SOT}` },
    ];
    const serverConf = path.join(dir, 'server.yml');
    await writeFile(serverConf, stringify(serverYml), { mode: 0o644 });
    const tokenFile = path.join(dir, 'operate-token');
    await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o400 });
    await chown(tokenFile, UID, UID);
    const hostPort = await freePort();
    t = Date.now();
    server = await c.start('server', [
      '--network',
      'slirp4netns:allow_host_loopback=true',
      '-p',
      `127.0.0.1:${hostPort}:8080`,
      ...serverTemporalEnv(frontendPort, pki.serverName),
      '-v',
      `${serverConf}:/etc/vaquero/server.yml:ro`,
      '-v',
      `${tokenFile}:/run/secrets/operate-token:ro`,
      '-v',
      `${codecKeys.server}:/run/secrets/codec-key:ro`,
      '-v',
      `${dirs.serverTls}:/etc/vaquero/tls:ro`,
      '-v',
      `${dirs.sots}:/srv/sot:ro`,
      img.image,
      'server',
      '--config',
      '/etc/vaquero/server.yml',
    ]);
    api = `http://127.0.0.1:${hostPort}`;
    const serverLog = await c.waitForLog(server, /listening on/, 120_000);
    assert.match(
      serverLog,
      new RegExp(`using Temporal at 10\\.0\\.2\\.2:${frontendPort}, namespace vaquero \\(TLS\\)`),
    );
    await waitFor(
      'the server /ready',
      async () => (await fetch(`${api}/ready`).then((r) => r.status)) === 200 || undefined,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    times['server container until /ready'] = Date.now() - t;
  });

  after(async () => {
    if (c) {
      for (const name of [server, simAgent].filter(Boolean))
        say(`${name} log tail:\n${(await c.logs(name).catch(() => '')).slice(-3000)}`);
      await c.removeAll();
    }
    await helper?.stop();
    forward?.close();
    if (net) destroyLabNetwork(net.name);
    await temporal?.close();
    await production?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    times['whole file'] = Date.now() - t0;
    const lines = Object.entries(times).map(([k, v]) => `  ${k}: ${(v / 1000).toFixed(1)} s`);
    process.stdout.write(`timings:\n${lines.join('\n')}\n`);
  });

  /** The sim SoT (testkit/sot.ts), each host's BMC a Redfish one in the namespace instead of the `sim` driver. */
  async function writeSimSot(parent: string): Promise<void> {
    const sot = await writeSot(
      {
        sot: SIM_SOT,
        site: SIM_SITE,
        workflows: { two: { boots: ['install', 'configure'], policy: { max_concurrent: HOSTS.length } } },
        hosts: HOSTS.map((h) => ({ name: h, workflow: 'two' })),
      },
      parent,
    );
    await useSimRedfishBmcs(sot.dir, SIM_SITE, SIM_BMC_BASE_PORT);
  }

  /** README.md's server variables: the frontend (the host's loopback is 10.0.2.2 under slirp4netns) and mTLS. */
  function serverTemporalEnv(port: number, serverName: string): string[] {
    return Object.entries({
      TEMPORAL_ADDRESS: `10.0.2.2:${port}`,
      TEMPORAL_NAMESPACE: 'vaquero',
      TEMPORAL_TLS_CA: '/etc/vaquero/tls/ca.pem',
      TEMPORAL_TLS_CERT: '/etc/vaquero/tls/client.pem',
      TEMPORAL_TLS_KEY: '/etc/vaquero/tls/client.key',
      TEMPORAL_TLS_SERVER_NAME: serverName,
    }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  }

  /** An agent's config file, its `temporal` section naming the mounted TLS files (README.md, "Deploy"). */
  async function agentConfig(name: string, body: Record<string, unknown>): Promise<string> {
    const etc = path.join(dir, `${name}-etc`);
    await mkdir(etc, { recursive: true, mode: 0o755 });
    await writeFile(
      path.join(etc, 'agent.yml'),
      stringify({
        ...body,
        data_dir: '/var/lib/vaquero-agent',
        temporal: {
          address: `127.0.0.1:${NS_TEMPORAL_PORT}`,
          namespace: 'vaquero',
          tls: {
            ca: '/etc/vaquero/tls/ca.pem',
            cert: '/etc/vaquero/tls/client.pem',
            key: '/etc/vaquero/tls/client.key',
            server_name: pki.serverName,
          },
          codec: { keys: [{ id: 'k1', file: '/etc/vaquero/codec-key' }] },
        },
        secrets: { file: '/etc/vaquero/secrets.yml' },
        log_level: 'info',
      }),
      { mode: 0o644 },
    );
    return etc;
  }

  /** README.md's agent line, on the namespace's network instead of the host's, with the TLS files mounted. */
  async function startAgentContainer(
    name: string,
    etc: string,
    secrets: Record<string, unknown>,
    extra: string[] = [],
  ): Promise<string> {
    await writeFile(path.join(etc, 'secrets.yml'), stringify(secrets), { mode: 0o600 });
    const data = path.join(dir, `${name}-data`);
    await mkdir(data, { recursive: true });
    return c.start(name, [
      '--network',
      `ns:/run/netns/${net!.ns}`,
      ...AGENT_RUN_FLAGS,
      '-v',
      `${etc}/agent.yml:/etc/vaquero/agent.yml:ro`,
      '-v',
      `${etc}/secrets.yml:/etc/vaquero/secrets.yml:ro`,
      '-v',
      `${codecKeys.agent}:/etc/vaquero/codec-key:ro`,
      '-v',
      `${dirs.agentTls}:/etc/vaquero/tls:ro`,
      '-v',
      `${data}:/var/lib/vaquero-agent`,
      ...extra,
      img.image,
      'agent',
      '--config',
      '/etc/vaquero/agent.yml',
    ]);
  }

  async function waitForAgentPolling(site: string, container: string): Promise<void> {
    await c.waitForLog(container, /serving HTTP on/, 120_000);
    // What it says of its endpoint: the namespace's forwarder, the private CA, its client certificate.
    await c.waitForLog(
      container,
      new RegExp(
        `127\\.0\\.0\\.1:${NS_TEMPORAL_PORT} namespace vaquero, TLS, private CA, client certificate \\(mTLS\\), server name ${pki.serverName.replace(/\./g, '\\.')}`,
      ),
      60_000,
    );
    await waitFor(
      `the agent of ${site} polling its site queue over mTLS`,
      async () => {
        const d = await temporal.client.workflowService.describeTaskQueue({
          namespace: temporal.namespace,
          taskQueue: { name: siteTaskQueue(site) },
          taskQueueType: 2, // TASK_QUEUE_TYPE_ACTIVITY
        });
        return (d.pollers ?? []).length > 0 || undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
  }

  /** POST /rollouts through the server container, as `vaquero apply --sot NAME --server URL` does. */
  async function startThroughServer(sot: string): Promise<{ workflowId: string; revision: string }> {
    const r = await fetch(`${api}/rollouts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ sot }),
    });
    const body = (await r.json()) as { workflowId: string; revision: string; started: boolean };
    assert.equal(r.status, 201, JSON.stringify(body));
    return body;
  }

  function minus(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
    return Object.fromEntries(HOSTS.map((h) => [h, (a[h] ?? 0) - (b[h] ?? 0)]));
  }

  async function simRollout(
    label: string,
    midway?: () => Promise<void>,
  ): Promise<{ powerOns: Record<string, number>; statuses: HostStatus[] }> {
    const before: SimCounts = await helper!.simCounts();
    const t = Date.now();
    const r = await startThroughServer(SIM_SOT);
    if (midway) {
      const begun = await waitFor(
        'a sim host powered into its network boot',
        async () => {
          const n = Object.values(minus((await helper!.simCounts()).netboots, before.netboots));
          const sum = n.reduce((a, b) => a + b, 0);
          return sum > 0 ? sum : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 20 },
      );
      assert.ok(
        begun < HOSTS.length * STAGES,
        `mid-rollout: ${begun} of ${HOSTS.length * STAGES} boots begun`,
      );
      say(`${label}: interrupting at +${((Date.now() - t) / 1000).toFixed(1)} s (${begun} boots begun)`);
      await midway();
      say(`${label}: back at +${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
    const result: RolloutResult = await rolloutResult(temporal.client, r.workflowId, 300_000);
    times[label] = Date.now() - t;
    assert.equal(result.state, 'completed', JSON.stringify(result));
    assert.equal(result.provisioned, HOSTS.length);
    const after: SimCounts = await helper!.simCounts();
    const netboots = minus(after.netboots, before.netboots);
    const powerOns = minus(after.powerOns, before.powerOns);
    const statuses: HostStatus[] = [];
    for (const host of HOSTS) {
      const st = await hostStatus(temporal.client, SIM_SITE, host);
      statuses.push(st);
      assert.equal(st.state, 'provisioned', `${label} ${host}`);
      assert.equal(st.revision, r.revision);
      assert.equal(st.powerCycles, STAGES, `${label} ${host}: one power cycle per boot stage`);
      assert.equal(netboots[host], STAGES, `${label} ${host}: one network boot per stage`);
      const events = st.timeline.filter((e) => e.kind === 'event');
      for (let stage = 1; stage <= STAGES; stage++) {
        const kinds = new Set(
          events.filter((e) => e.bootStage === stage).map((e) => e.message.split(' ')[0]),
        );
        for (const k of SEEN_EACH_STAGE)
          assert.ok(kinds.has(k), `${label} ${host} stage ${stage}: ${k} in ${[...kinds].join(',')}`);
      }
      const power = st.timeline
        .filter((e) => e.kind === 'power')
        .map((e) => e.message)
        .join(' | ');
      say(`${label} ${host}: power ${power}`);
    }
    // The server's own view of the rollout (its index, read through the REST API).
    const detail = await fetch(`${api}/rollouts/${SIM_SOT}/${r.revision}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(detail.status, 200, await detail.clone().text());
    assert.equal(((await detail.json()) as { state: string }).state, 'completed');
    return { powerOns, statuses };
  }

  it('sim hosts behind Redfish BMCs: a rollout through the agent container, then one with temporal-server SIGKILLed and restarted', async () => {
    const hosts = HOSTS.map((name, i) => ({
      site: SIM_SITE,
      name,
      mac: `52:54:00:aa:00:${(i + 1).toString(16).padStart(2, '0')}`,
      port: SIM_BMC_BASE_PORT + i,
    }));
    const { urls } = await helper!.simHosts({
      hosts,
      agent: {
        http: `http://127.0.0.1:${SIM.httpPort}`,
        tftpPort: SIM.tftpPort,
        dhcpPort: SIM.dhcpPort,
        relayPort: SIM.relayPort,
      },
      sotHttpUrl: SIM_SOT_AGENT_URL,
      subnet: '10.20.0.0',
      username: bmc.username,
      password: bmc.password,
      delays: FAST_SIM_DELAYS,
    });
    assert.deepEqual(Object.keys(urls), HOSTS);
    const etc = await agentConfig('sim-agent', {
      agent_id: SIM_AGENT,
      site: SIM_SITE,
      // The sim hosts speak to it on the namespace's loopback: DHCP through their relay (replies to its port).
      interfaces: [{ name: 'lo', address: '127.0.0.1', cidr: '127.0.0.0/8' }],
      dhcp: {
        enabled: true,
        mode: 'server',
        port: SIM.dhcpPort,
        proxy_port: SIM.proxyPort,
        relay_port: SIM.relayPort,
      },
      tftp: { enabled: true, root: '/usr/lib/ipxe', port: SIM.tftpPort },
      http: { listen: '127.0.0.1', port: SIM.httpPort },
    });
    let t = Date.now();
    simAgent = await startAgentContainer('sim-agent', etc, { 'test-bmc': bmc });
    await waitForAgentPolling(SIM_SITE, simAgent);
    times['sim agent container until it polls'] = Date.now() - t;

    const first = await simRollout('sim rollout 1');
    const sotDir = path.join(dirs.sots, SIM_SOT);
    await changeKernel(sotDir, 'installer', 'v2');
    await changeKernel(sotDir, 'tiny', 'v2');
    const killedPid = production.serverPid();
    let restartedIn = 0;
    const second = await simRollout('sim rollout 2 (temporal-server SIGKILLed, restarted)', async () => {
      await production.killServer();
      await delay(OUTAGE_MS);
      t = Date.now();
      await production.startServer();
      restartedIn = Date.now() - t;
    });
    times['temporal-server restart until the namespace answers'] = restartedIn;
    assert.notEqual(production.serverPid(), killedPid);
    assert.deepEqual(
      second.powerOns,
      first.powerOns,
      'no power-on beyond those of the rollout without a kill',
    );
    for (const h of HOSTS) assert.equal(second.powerOns[h], STAGES, `${h}: one power-on per boot stage`);
    const log = await readFile(production.serverLog, 'utf8');
    assert.equal(log.split('\n=== ').length - 1, 2, 'the Temporal server was started twice (killed once)');
    // Both containers rode the outage out: still running, never restarted.
    for (const name of [server, simAgent]) {
      assert.equal(await c.state(name), 'running', name);
      assert.equal(await c.restarts(name), 0, name);
    }
    const counts = await helper!.simCounts();
    say(`Redfish requests per BMC: ${JSON.stringify(counts.bmcRequests)}`);
    await c.podman(['rm', '-f', '-t', '5', simAgent]);
  });

  it('a lab QEMU VM (BIOS) whose BMC is ipmi_sim, rolled out through an agent container on the lab bridge', async () => {
    const t = Date.now();
    const vmDir = path.join(dir, 'vm');
    await helper!.routerAdverts(net!.bridge, await mkdirp(path.join(dir, 'ra')));
    const machine = await helper!.machine({
      dir: vmDir,
      name: VM.name,
      firmware: 'bios',
      mac: VM.mac,
      tap: net!.taps[0]!,
      vmTimeoutS: 300,
      bmcPort: VM_BMC_PORT,
    });
    dirs.assets = (await prepareLabAssets(path.join(dir, 'assets'))).dir;
    execFileSync('chmod', ['-R', 'a+rX', dirs.assets]);
    const etc = await agentConfig('lab-agent', {
      agent_id: LAB_AGENT,
      site: LAB_SITE,
      interfaces: [{ name: net!.bridge, address: net!.address, cidr: net!.cidr }],
      dhcp: { enabled: true, mode: 'server' },
      tftp: { enabled: true, root: '/usr/lib/ipxe' },
      http: { listen: net!.address, port: 8080 },
      assets: { root: '/srv/vaquero/assets' },
    });
    const labAgent = await startAgentContainer(
      'lab-agent',
      etc,
      {
        [machine.credentials.ref]: {
          username: machine.credentials.username,
          password: machine.credentials.password,
        },
      },
      ['-v', `${dirs.assets}:/srv/vaquero/assets:ro`],
    );
    await waitForAgentPolling(LAB_SITE, labAgent);
    const r = await startThroughServer(LAB_SOT);
    let result: RolloutResult;
    try {
      result = await rolloutResult(temporal.client, r.workflowId, 300_000);
    } finally {
      say(`lab agent log tail:\n${(await c.logs(labAgent)).slice(-3000)}`);
    }
    times['lab VM rollout (BIOS, TCG)'] = Date.now() - t;
    const report = await helper!.machineReport(VM.name);
    assert.equal(
      result.state,
      'completed',
      `${JSON.stringify(result)}\nserial:\n${report.serial.slice(-2000)}`,
    );
    assert.equal(result.provisioned, 1);
    const st = await hostStatus(temporal.client, LAB_SITE, VM.name);
    assert.equal(st.state, 'provisioned');
    assert.equal(st.powerCycles, 1, 'one power operation for the one boot stage');
    // The BMC's own log: the boot device set to PXE, then one power-on, which started the VM.
    assert.deepEqual(report.powerOns, ['pxe'], 'powered on exactly once, to boot from the network');
    const sets = report.powerLog.map((p) => p.what);
    assert.ok(
      sets.indexOf('set boot pxe') >= 0 && sets.indexOf('set boot pxe') < sets.indexOf('set power 1'),
    );
    const kinds = st.timeline.filter((e) => e.kind === 'event').map((e) => e.message.split(' ')[0]);
    for (const k of ['dhcp', 'ipxe', 'kernel', 'initrd', 'checkpoint'])
      assert.ok(kinds.includes(k), kinds.join(','));
    assert.match(report.serial, new RegExp(TINY_MARKERS.callbackOk));
    assert.equal(await c.restarts(labAgent), 0);
    say(
      `lab VM: ${kinds.join(' ')}; power ${st.timeline.filter((e) => e.kind === 'power').map((e) => e.message)}`,
    );
  });
});

async function mkdirp(d: string): Promise<string> {
  await mkdir(d, { recursive: true });
  return d;
}
