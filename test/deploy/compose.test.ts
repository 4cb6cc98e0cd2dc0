// deploy/compose.yaml brought up as CI can (issue 13, item 4; testkit/compose.ts): README.md's commands, with the
// images CI builds itself passed in through the file's variables (VAQUERO_IMAGE; POSTGRES_IMAGE from Debian's
// postgresql-15; TEMPORAL_IMAGE and TEMPORAL_ADMIN_TOOLS_IMAGE from the temporal-server, temporal-sql-tool and CLI
// built from their Go modules, all on the same Debian base), and Debian's docker-compose against podman's Docker
// API, the engine running inside a network namespace this test makes, so compose's bridge, its firewall rules, its
// published ports and the agent's "host" network all stay in there.
//
// It checks that the whole stack comes up in order (PostgreSQL healthy, both schemas, Temporal, the namespace and
// its search attributes, then the server and the agent), that the server is ready on its loopback port with the
// token from the secret file, that its control worker and the agent poll their queues on Temporal, and that the
// agent runs with CAP_NET_BIND_SERVICE only. Then, with an override file that gives the server a SoT folder (and
// server.yml and agent.yml as an operator writes them for that site), a rollout of sim hosts behind Redfish BMCs
// in the namespace (testkit/sim-redfish.ts) completes through the compose stack. Last, `down -v` leaves nothing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import type { Daemon } from '../../lab/daemon.ts';
import { startDaemon } from '../../lab/daemon.ts';
import type { RolloutResult } from '../../domain/rollout.ts';
import { ensureTemporalCli } from '../../temporal/cli-binary.ts';
import { connectTemporal } from '../../temporal/connection.ts';
import type { TemporalConnection } from '../../temporal/connection.ts';
import { installQuietRuntime } from '../../temporal/runtime.ts';
import type { ComposeEngine, ComposeImages } from '../../testkit/compose.ts';
import {
  COMPOSE_COMMANDS,
  ensureComposeImages,
  healthChecks,
  startComposeEngine,
} from '../../testkit/compose.ts';
import { PROJECT_ROOT, ensureVaqueroImage } from '../../testkit/image.ts';
import { createNamespace, deleteNamespace, requireRoot, runInNs } from '../../testkit/netns.ts';
import { startNetnsHelper } from '../../testkit/netns-helper.ts';
import type { NetnsHelper } from '../../testkit/netns-helper.ts';
import { useSimRedfishBmcs } from '../../testkit/sim-redfish.ts';
import { writeSot } from '../../testkit/sot.ts';
import { FAST_SIM_DELAYS } from '../../testkit/stack.ts';
import { hostStatus, rolloutResult, waitFor } from '../../testkit/workflows.ts';

requireRoot();

const run = promisify(execFile);
const say = (m: string): void => void process.stderr.write(`# compose: ${m}\n`);
const PROJECT = 'vaquero';
const tag = `${process.pid % 100000}`;
/** deploy/agent.yml's provisioning interface: made in the namespace so the agent serves it as shipped. */
const PROV = { name: 'br-prov', cidr: '10.77.1.1/24' };
/** README.md's commands (testkit/compose.ts), run in the project folder (a copy of deploy/ the test owns). */
const {
  token: README_TOKEN,
  codecKey: README_CODEC_KEY,
  env: README_ENV,
  up: README_UP,
  down: README_DOWN,
} = COMPOSE_COMMANDS;
assert.ok(README_UP.includes(` -p ${PROJECT} `));
const SIM = { httpPort: 8081, dhcpPort: 1067, relayPort: 1068, tftpPort: 1069, proxyPort: 14011 };
const SIM_BMC_BASE_PORT = 8101;
const SIM_SOT = 'composesot';
const SITE = 'lab';
const HOSTS = ['c1', 'c2'];

const times: Record<string, number> = {};

describe('deploy/compose.yaml with docker-compose on podman', { timeout: 900_000 }, () => {
  let dir = '';
  let images: ComposeImages;
  let engine: ComposeEngine | undefined;
  let stopHealth: (() => Promise<void>) | undefined;
  let resolver: Daemon | undefined;
  let helper: NetnsHelper | undefined;
  let temporal: TemporalConnection | undefined;
  const ns = `vq${tag}cmp`;
  let composeEnv: NodeJS.ProcessEnv = {};
  const t0 = Date.now();

  /** docker-compose (or a README line through sh) in the project folder, against the namespace's engine. */
  async function sh(line: string, timeoutMs = 600_000): Promise<{ code: number; out: string }> {
    return run('sh', ['-c', line], {
      cwd: dir,
      env: composeEnv,
      timeout: timeoutMs,
      maxBuffer: 32 * 2 ** 20,
    }).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({
        code: typeof err.code === 'number' ? err.code : -1,
        out: `${err.stdout ?? ''}${err.stderr ?? String(err)}`,
      }),
    );
  }

  async function state(): Promise<Record<string, string>> {
    const ps = await engine!.podman([
      'ps',
      '-a',
      '--filter',
      `label=com.docker.compose.project=${PROJECT}`,
      '--format',
      '{{.Labels}}|{{.Status}}',
    ]);
    const out: Record<string, string> = {};
    for (const line of ps.stdout.split('\n').filter(Boolean)) {
      const service = /com\.docker\.compose\.service:([^ \]]+)/.exec(line)?.[1] ?? line;
      out[service] = line.split('|').pop()!;
    }
    return out;
  }

  /** curl inside the namespace (the published ports are on its loopback). */
  async function curl(args: string[]): Promise<{ status: number; body: string }> {
    const r = await runInNs(ns, 'curl', ['-s', '-w', '\\n%{http_code}', '--max-time', '10', ...args]);
    const lines = r.stdout.trimEnd().split('\n');
    return { status: Number(lines.pop()), body: lines.join('\n') };
  }

  async function pollers(queue: string): Promise<string> {
    const cli = await ensureTemporalCli();
    const r = await runInNs(ns, cli, [
      ...['task-queue', 'describe', '--task-queue', queue, '--namespace', 'vaquero'],
      ...['--address', '127.0.0.1:7233'],
    ]);
    return r.stdout + r.stderr;
  }

  before(async () => {
    let t = Date.now();
    const img = await ensureVaqueroImage((m) => say(`image: ${m}`));
    times['vaquero image (cached unless its inputs changed)'] = Date.now() - t;
    t = Date.now();
    images = await ensureComposeImages(img, say);
    times['CI PostgreSQL and Temporal images (cached unless their inputs changed)'] = Date.now() - t;
    say(
      `images: ${images.POSTGRES_IMAGE} ${(images.sizes.postgres / 1e6).toFixed(0)} MB, ${images.TEMPORAL_IMAGE} ` +
        `${(images.sizes.temporal / 1e6).toFixed(0)} MB (built now: ${JSON.stringify(images.built)} s)`,
    );
    // Someone else's project of the same name would be taken over by `up`: refuse instead.
    const theirs = await run(
      'podman',
      ['ps', '-a', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--format', '{{.Names}}'],
      { env: img.env },
    );
    assert.equal(theirs.stdout.trim(), '', `a compose project "${PROJECT}" already has containers here`);

    dir = await mkdtemp(path.join(tmpdir(), 'vq-compose-'));
    await chmod(dir, 0o755);
    // The project folder: deploy/ as in the repository (its secrets folder without what a machine made there).
    await cp(path.join(PROJECT_ROOT, 'deploy'), path.join(dir, 'deploy'), {
      recursive: true,
      filter: (src) => !/\/secrets\/(?!\.gitignore$)[^/]+$|\/\.env$/.test(src),
    });

    createNamespace(ns);
    await runInNs(ns, 'ip', ['link', 'add', PROV.name, 'type', 'bridge']);
    await runInNs(ns, 'ip', ['addr', 'add', PROV.cidr, 'dev', PROV.name]);
    await runInNs(ns, 'ip', ['link', 'set', PROV.name, 'up']);
    // The containers' resolv.conf lists aardvark-dns and then this machine's resolvers, which the sealed namespace
    // cannot reach: a lookup that aardvark does not answer (gRPC's SRV query for grpclb) would wait for them until
    // the temporal CLI gives up. A resolver at the same addresses inside the namespace, knowing no names, answers
    // NXDOMAIN at once, as a site's resolver would.
    const resolvers = (await readFile('/etc/resolv.conf', 'utf8'))
      .split('\n')
      .map((l) => /^nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(l.trim())?.[1])
      .filter((a): a is string => a !== undefined && !a.startsWith('127.'));
    for (const a of resolvers) await runInNs(ns, 'ip', ['addr', 'add', `${a}/32`, 'dev', 'lo']);
    if (resolvers.length > 0)
      resolver = await startDaemon(
        'compose-resolver',
        'dnsmasq',
        [
          '--keep-in-foreground',
          '--port=53',
          '--bind-interfaces',
          ...resolvers.map((a) => `--listen-address=${a}`),
          '--no-resolv',
          '--no-hosts',
          '--address=/#/',
          '--pid-file=',
          '--user=root',
        ],
        { ns },
      );

    engine = await startComposeEngine(ns, path.join(dir, 'engine'));
    stopHealth = healthChecks(engine, PROJECT);
    composeEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DOCKER_HOST: engine.dockerHost,
      VAQUERO_IMAGE: images.VAQUERO_IMAGE,
      POSTGRES_IMAGE: images.POSTGRES_IMAGE,
      TEMPORAL_IMAGE: images.TEMPORAL_IMAGE,
      TEMPORAL_ADMIN_TOOLS_IMAGE: images.TEMPORAL_ADMIN_TOOLS_IMAGE,
    };
  });

  after(async () => {
    await temporal?.close().catch(() => undefined);
    if (engine) {
      const st = await state().catch(() => ({}));
      if (Object.keys(st).length > 0) {
        say(`containers at the end: ${JSON.stringify(st)}`);
        for (const s of ['vaquero-server', 'vaquero-agent', 'temporal', 'temporal-namespace'])
          say(
            `${s} log tail:\n${(await engine.podman(['logs', `${PROJECT}_${s}_1`])).stderr.slice(-2500)}` +
              (await engine.podman(['logs', `${PROJECT}_${s}_1`])).stdout.slice(-2500),
          );
        const down = await sh(README_DOWN, 180_000);
        if (down.code !== 0) say(`down: ${down.out}`);
      }
      // Whatever `down` left (it failed, or never ran): removed here, in the namespace, with the engine's own
      // network configuration, so that netavark tears down what it set up there.
      const label = `label=com.docker.compose.project=${PROJECT}`;
      const left = await engine.podman(['ps', '-aq', '--filter', label]);
      for (const id of left.stdout.split('\n').filter(Boolean))
        await engine.podman(['rm', '-f', '-t', '2', id]);
      for (const kind of ['volume', 'network'] as const) {
        const ids = await engine.podman([kind, 'ls', '-q', '--filter', label]);
        for (const id of ids.stdout.split('\n').filter(Boolean)) await engine.podman([kind, 'rm', '-f', id]);
      }
    }
    await stopHealth?.();
    await helper?.stop();
    await engine?.stop();
    await resolver?.stop();
    deleteNamespace(ns);
    if (dir) await rm(dir, { recursive: true, force: true });
    times['whole file'] = Date.now() - t0;
    const lines = Object.entries(times).map(([k, v]) => `  ${k}: ${(v / 1000).toFixed(1)} s`);
    process.stdout.write(`timings:\n${lines.join('\n')}\n`);
  });

  it("comes up with README.md's commands: PostgreSQL, schemas, Temporal, namespace, then server and agent", async () => {
    for (const line of [README_TOKEN, README_CODEC_KEY, README_ENV]) {
      const r = await sh(line);
      assert.equal(r.code, 0, r.out);
    }
    const t = Date.now();
    const up = await sh(README_UP);
    times['up -d (everything created, in dependency order)'] = Date.now() - t;
    assert.equal(up.code, 0, up.out);
    const st = await state();
    assert.match(st['postgresql'] ?? '', /^Up .*\(healthy\)/, JSON.stringify(st));
    assert.match(st['temporal-schema'] ?? '', /^Exited \(0\)/, JSON.stringify(st));
    assert.match(st['temporal-namespace'] ?? '', /^Exited \(0\)/, JSON.stringify(st));
    for (const s of ['temporal', 'vaquero-server', 'vaquero-agent'])
      assert.match(st[s] ?? '', /^Up /, `${s}: ${JSON.stringify(st)}`);

    const operate = (await readFile(path.join(dir, 'deploy', 'secrets', 'operate-token'), 'utf8')).trim();
    await waitFor(
      'the server /ready on the published loopback port',
      async () => (await curl(['http://127.0.0.1:8080/ready'])).status === 200 || undefined,
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    times['up until the server is ready'] = Date.now() - t;
    const ready = JSON.parse((await curl(['http://127.0.0.1:8080/ready'])).body) as {
      temporal: { reachable: boolean; namespace: string };
      workers: { workflowPollers: number };
    };
    assert.equal(ready.temporal.reachable, true);
    assert.equal(ready.temporal.namespace, 'vaquero');
    const sites = await curl(['-H', `Authorization: Bearer ${operate}`, 'http://127.0.0.1:8080/sites']);
    assert.equal(sites.status, 200, sites.body);
    assert.equal((await curl(['http://127.0.0.1:8080/hosts'])).status, 401);
    await waitFor(
      'the server container healthy (its compose health check)',
      async () => /\(healthy\)/.test((await state())['vaquero-server'] ?? '') || undefined,
      { timeoutMs: 60_000, intervalMs: 1_000 },
    ).catch(async (err: Error) => {
      const name = `${PROJECT}_vaquero-server_1`;
      const run = await engine!.podman(['healthcheck', 'run', name]);
      const health = await engine!.podman(['inspect', '--format', '{{json .State.Health}}', name]);
      const conf = await engine!.podman(['inspect', '--format', '{{json .Config.Healthcheck}}', name]);
      throw new Error(
        `${err.message}\nhealthcheck run: ${run.code} ${run.stdout}${run.stderr}\nhealth: ${health.stdout}\nconfig: ${conf.stdout}`,
      );
    });

    // On Temporal: the control worker (in the server) and the agent (site lab, deploy/agent.yml) poll.
    await waitFor(
      'pollers on vaquero-control and site-lab',
      async () => {
        const control = await pollers('vaquero-control');
        const site = await pollers(`site-${SITE}`);
        const n = (text: string, type: string) =>
          text.split('\n').filter((l) => new RegExp(`^\\s*UNVERSIONED\\s+${type}\\s+\\S+@`).test(l)).length;
        return (
          (n(control, 'workflow') > 0 && n(control, 'activity') > 0 && n(site, 'activity') > 0) || undefined
        );
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    const agentName = `${PROJECT}_vaquero-agent_1`;
    const caps = await engine!.podman(['exec', agentName, 'grep', 'CapEff', '/proc/1/status']);
    assert.match(caps.stdout, /CapEff:\s+0000000000000400/, caps.stderr);
    const logs = await engine!.podman(['logs', agentName]);
    assert.match(
      logs.stdout + logs.stderr,
      /vaquero agent agent-1 \(site lab\) serving HTTP on http:\/\/10\.77\.1\.1:8080/,
    );
  });

  it('rolls out sim hosts through the compose stack (an override gives the server a SoT folder)', async () => {
    // The operator's files for this site: server.yml with the SoT, agent.yml where the sim hosts reach the agent
    // (the namespace's loopback, their DHCP through a relay), and an override mounting the SoT folder.
    const sotParent = path.join(dir, 'deploy', 'sot');
    await mkdir(sotParent, { recursive: true });
    const sot = await writeSot(
      {
        sot: SIM_SOT,
        site: SITE,
        agents: ['agent-1'],
        workflows: { one: { boots: ['install'], policy: { max_concurrent: HOSTS.length } } },
        hosts: HOSTS.map((h) => ({ name: h, workflow: 'one' })),
      },
      sotParent,
    );
    await useSimRedfishBmcs(sot.dir, SITE, SIM_BMC_BASE_PORT);
    await run('chmod', ['-R', 'a+rX', sotParent]);
    const bmc = { username: 'admin', password: 'compose-sim-bmc-0123' };
    await writeFile(path.join(dir, 'deploy', 'secrets', 'bmc.yml'), stringify({ 'test-bmc': bmc }), {
      mode: 0o600,
    });
    const serverYml = (await readFile(path.join(dir, 'deploy', 'server.yml'), 'utf8')).replace(
      /^sots: \[\]$/m,
      `sots:\n  - { name: ${SIM_SOT}, dir: /srv/sot/${SIM_SOT} }`,
    );
    assert.match(serverYml, new RegExp(`name: ${SIM_SOT}`));
    await writeFile(path.join(dir, 'deploy', 'server.ci.yml'), serverYml);
    await writeFile(
      path.join(dir, 'deploy', 'agent.ci.yml'),
      stringify({
        agent_id: 'agent-1',
        site: SITE,
        data_dir: '/var/lib/vaquero-agent',
        temporal: {
          address: '127.0.0.1:7233',
          namespace: 'vaquero',
          codec: { keys: [{ id: 'k1', file: '/run/secrets/codec-key' }] },
        },
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
        secrets: { file: '/run/secrets/bmc.yml' },
        log_level: 'info',
      }),
    );
    await writeFile(
      path.join(dir, 'deploy', 'compose.ci.yaml'),
      stringify({
        services: {
          'vaquero-server': {
            volumes: ['./server.ci.yml:/etc/vaquero/server.yml:ro', './sot:/srv/sot:ro'],
          },
          'vaquero-agent': {
            volumes: ['./agent.ci.yml:/etc/vaquero/agent.yml:ro'],
            // The list as a whole: the payload key of compose.yaml's, and the BMC credentials.
            secrets: [
              { source: 'codec-key', target: 'codec-key' },
              { source: 'bmc', target: 'bmc.yml' },
            ],
          },
        },
        secrets: { bmc: { file: './secrets/bmc.yml' } },
      }),
    );
    helper = await startNetnsHelper(ns);
    await helper.simHosts({
      hosts: HOSTS.map((name, i) => ({
        site: SITE,
        name,
        mac: sot.macs.get(name)!,
        port: SIM_BMC_BASE_PORT + i,
      })),
      agent: {
        http: `http://127.0.0.1:${SIM.httpPort}`,
        tftpPort: SIM.tftpPort,
        dhcpPort: SIM.dhcpPort,
        relayPort: SIM.relayPort,
      },
      sotHttpUrl: 'http://10.20.0.2:8080',
      subnet: '10.20.0.0',
      username: bmc.username,
      password: bmc.password,
      delays: FAST_SIM_DELAYS,
    });
    let t = Date.now();
    const up = await sh(
      `docker-compose -p ${PROJECT} -f deploy/compose.yaml -f deploy/compose.ci.yaml up -d --no-deps vaquero-server vaquero-agent`,
    );
    assert.equal(up.code, 0, up.out);
    assert.match(up.out, /Recreating .*vaquero-server/);
    const operate = (await readFile(path.join(dir, 'deploy', 'secrets', 'operate-token'), 'utf8')).trim();
    await waitFor(
      'the recreated server /ready',
      async () => (await curl(['http://127.0.0.1:8080/ready'])).status === 200 || undefined,
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    times['override: server and agent recreated until ready'] = Date.now() - t;

    // The test's own client on the compose Temporal (its port exposed from the namespace) for the host workflows.
    installQuietRuntime();
    const port = await helper.expose(7233, path.join(dir, 'temporal-out.sock'));
    temporal = await connectTemporal({
      dataDir: path.join(dir, 'client'),
      env: { ...process.env, TEMPORAL_ADDRESS: `127.0.0.1:${port}`, TEMPORAL_NAMESPACE: 'vaquero' },
      // The key README.md's commands made, which the server and the agent read.
      codec: { keys: [{ id: 'k1', file: path.join(dir, 'deploy', 'secrets', 'codec-key') }] },
    });
    await waitFor(
      'the recreated agent polling site-lab',
      async () => {
        const d = await temporal!.client.workflowService.describeTaskQueue({
          namespace: 'vaquero',
          taskQueue: { name: `site-${SITE}` },
          taskQueueType: 2,
        });
        return (
          (d.pollers ?? []).some((p) => (p.lastAccessTime?.seconds?.toNumber() ?? 0) * 1000 > t) || undefined
        );
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );

    t = Date.now();
    const start = await curl([
      ...['-X', 'POST', '-H', `Authorization: Bearer ${operate}`, '-H', 'content-type: application/json'],
      ...['-d', JSON.stringify({ sot: SIM_SOT }), 'http://127.0.0.1:8080/rollouts'],
    ]);
    assert.equal(start.status, 201, start.body);
    const { workflowId, revision } = JSON.parse(start.body) as { workflowId: string; revision: string };
    const result: RolloutResult = await rolloutResult(temporal.client, workflowId, 240_000);
    times['sim rollout through compose'] = Date.now() - t;
    assert.equal(result.state, 'completed', JSON.stringify(result));
    assert.equal(result.provisioned, HOSTS.length);
    const counts = await helper.simCounts();
    for (const h of HOSTS) {
      const st = await hostStatus(temporal.client, SITE, h);
      assert.equal(st.state, 'provisioned');
      assert.equal(st.revision, revision);
      assert.equal(st.powerCycles, 1);
      assert.equal(counts.netboots[h], 1, `${h}: one network boot`);
      assert.equal(counts.powerOns[h], 1, `${h}: one power-on`);
    }
    const detail = await curl([
      '-H',
      `Authorization: Bearer ${operate}`,
      `http://127.0.0.1:8080/rollouts/${SIM_SOT}/${revision}`,
    ]);
    assert.equal((JSON.parse(detail.body) as { state: string }).state, 'completed', detail.body);
  });

  it('down -v removes every container, volume and network of the project', async () => {
    const t = Date.now();
    const down = await sh(
      `docker-compose -p ${PROJECT} -f deploy/compose.yaml -f deploy/compose.ci.yaml down -v`,
      180_000,
    );
    times['down -v'] = Date.now() - t;
    assert.equal(down.code, 0, down.out);
    assert.deepEqual(await state(), {});
    const label = `label=com.docker.compose.project=${PROJECT}`;
    assert.equal((await engine!.podman(['volume', 'ls', '-q', '--filter', label])).stdout.trim(), '');
    assert.equal((await engine!.podman(['network', 'ls', '-q', '--filter', label])).stdout.trim(), '');
  });
});
