// The image as CI builds it (README.md, "Deploy"; issue 13, items 1 and 2): a base made from Debian's packages
// (debootstrap + this machine's nodejs, `podman import`), then `podman build --build-arg BASE=… -f Containerfile`,
// both cached by a hash of their inputs (testkit/image.ts). Then, from that image:
//  - `vaquero server` as its non-root user, its port published on loopback (slirp4netns: no bridge, no iptables
//    rules on this machine), on a real Temporal on this machine's loopback: /live, an authenticated GET, a 401
//    for an unauthenticated POST, and its control worker polling with the prebuilt workflow bundle;
//  - `vaquero agent --check` prints its plan and exits 0;
//  - `vaquero agent` with the host network of a namespace this test makes and only CAP_NET_BIND_SERVICE answers
//    a real DHCP client (udhcpc) in the peer namespace for a reserved MAC and serves iPXE over TFTP; with no
//    capability at all it cannot bind port 67, so that one capability is needed, and it is enough.
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { SiteModel } from '../../domain/site-model.ts';
import { CONTROL_TASK_QUEUE } from '../../domain/temporal-names.ts';
import { connectTemporal } from '../../temporal/connection.ts';
import type { TemporalConnection } from '../../temporal/connection.ts';
import { freePort } from '../../temporal/ports.ts';
import { installQuietRuntime } from '../../temporal/runtime.ts';
import { AGENT_RUN_FLAGS, PROJECT_ROOT, ensureVaqueroImage } from '../../testkit/image.ts';
import { freeServerPorts } from '../../testkit/stack.ts';
import type { VaqueroImage } from '../../testkit/image.ts';
import { createNamespace, deleteNamespace, requireRoot, runInNs } from '../../testkit/netns.ts';

requireRoot();

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const say = (m: string): void => void process.stderr.write(`# image: ${m}\n`);
const PREFIX = '10.77.62';
const RESERVED_MAC = '52:54:00:62:00:07';
const RESERVED_IP = `${PREFIX}.57`;
const UID = 10001;

describe('the vaquero image, built from Debian packages and run with podman', () => {
  let img: VaqueroImage;
  const scratch = mkdtempSync(path.join(tmpdir(), 'vq-image-'));
  chmodSync(scratch, 0o755);
  const containers: string[] = [];
  const tag = `${process.pid}`;

  async function podman(
    args: string[],
    timeoutMs = 60_000,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return run('podman', args, { env: img.env, timeout: timeoutMs, maxBuffer: 16 * 2 ** 20 }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (err: { code?: number | string; stdout?: string; stderr?: string }) => ({
        code: typeof err.code === 'number' ? err.code : -1,
        stdout: err.stdout ?? '',
        stderr: err.stderr ?? String(err),
      }),
    );
  }

  /** Starts a detached container (removed after the test) and returns its name. */
  async function start(name: string, args: string[]): Promise<string> {
    const full = `vq-image-${name}-${tag}`;
    containers.push(full);
    const r = await podman(['run', '-d', '--name', full, ...args]);
    assert.equal(r.code, 0, `podman run ${name}: ${r.stderr}`);
    return full;
  }

  async function logs(name: string): Promise<string> {
    const r = await podman(['logs', name]);
    return r.stdout + r.stderr;
  }

  async function waitForLog(name: string, pattern: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = await logs(name);
      if (pattern.test(text)) return text;
      const state = (await podman(['inspect', '--format', '{{.State.Status}}', name])).stdout.trim();
      if (state !== 'running') assert.fail(`${name} is ${state} before ${pattern}:\n${text.slice(-4000)}`);
      if (Date.now() > deadline)
        assert.fail(`${name}: no ${pattern} within ${timeoutMs} ms:\n${text.slice(-4000)}`);
      await sleep(250);
    }
  }

  before(async () => {
    const t0 = Date.now();
    img = await ensureVaqueroImage(say);
    const { debootstrap, baseImport, image } = img.built;
    say(
      `${img.image} on ${img.base}: ${(img.sizeBytes / 1e6).toFixed(0)} MB; ready in ${((Date.now() - t0) / 1000).toFixed(1)} s ` +
        `(debootstrap ${debootstrap.toFixed(1)} s, base import ${baseImport.toFixed(1)} s, podman build ${image.toFixed(1)} s; 0 = cached)`,
    );
  });

  after(async () => {
    for (const c of containers) await podman(['rm', '-f', '-t', '2', c]).catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
  });

  it('holds Node 20, the project with its prebuilt workflow bundle, iPXE and ipmitool; it runs as a non-root user', async () => {
    const r = await podman([
      'run',
      '--rm',
      '--network',
      'none',
      '--entrypoint',
      'sh',
      img.image,
      '-c',
      'id -u; node --version; ls /usr/lib/ipxe; ipmitool -V; test -s "$VAQUERO_WORKFLOW_BUNDLE" && echo bundle ok; test -d /opt/vaquero/node_modules/typescript || echo no dev dependencies',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, new RegExp(`^${UID}$`, 'm'));
    assert.match(out, /^v20\./m);
    for (const f of ['undionly.kpxe', 'ipxe.efi', 'snponly.efi'])
      assert.match(out, new RegExp(`^${f}$`, 'm'));
    assert.match(out, /ipmitool version 1\.8/);
    assert.match(out, /bundle ok/);
    assert.match(out, /no dev dependencies/);
    assert.ok(img.sizeBytes < 450e6, `the image is ${img.sizeBytes} bytes: keep it lean`);
  });

  describe('vaquero server', () => {
    let temporal: TemporalConnection;
    const token = 'image-test-operate-token-0123456789';
    let url = '';
    let server = '';

    before(async () => {
      installQuietRuntime();
      temporal = await connectTemporal({
        dataDir: path.join(scratch, 'temporal'),
        ui: false,
        ports: await freeServerPorts(),
        env: { ...process.env, TEMPORAL_ADDRESS: '' },
      });
      const port = Number(temporal.address.split(':').pop());
      // README.md's server: deploy/server.yml as it is, Temporal from the environment, the token a mounted file.
      const tokenFile = path.join(scratch, 'operate-token');
      writeFileSync(tokenFile, `${token}\n`, { mode: 0o400 });
      chownSync(tokenFile, UID, UID);
      // The payload key deploy/server.yml names, the image's user's (README.md, "Payload encryption").
      const codecKey = path.join(scratch, 'codec-key');
      writeFileSync(codecKey, `${randomBytes(32).toString('hex')}\n`, { mode: 0o400 });
      chownSync(codecKey, UID, UID);
      const hostPort = await freePort();
      server = await start('server', [
        '--network',
        'slirp4netns:allow_host_loopback=true',
        '-p',
        `127.0.0.1:${hostPort}:8080`,
        // slirp4netns: the host's loopback, where this Temporal listens, is 10.0.2.2 inside the container.
        '-e',
        `TEMPORAL_ADDRESS=10.0.2.2:${port}`,
        '-e',
        `TEMPORAL_NAMESPACE=${temporal.namespace}`,
        '-v',
        `${path.join(PROJECT_ROOT, 'deploy', 'server.yml')}:/etc/vaquero/server.yml:ro`,
        '-v',
        `${tokenFile}:/run/secrets/operate-token:ro`,
        '-v',
        `${codecKey}:/run/secrets/codec-key:ro`,
        img.image,
        'server',
        '--config',
        '/etc/vaquero/server.yml',
      ]);
      url = `http://127.0.0.1:${hostPort}`;
      await waitForLog(server, /listening on/, 90_000);
    });

    after(async () => {
      await temporal?.close();
    });

    it('answers /live, an authenticated GET, and refuses an unauthenticated POST with 401', async () => {
      const live = await fetch(`${url}/live`);
      assert.equal(live.status, 200);
      const auth = { authorization: `Bearer ${token}` };
      for (const route of ['/sites', '/hosts']) {
        const r = await fetch(`${url}${route}`, { headers: auth });
        assert.equal(r.status, 200, `${route}: ${await r.text()}`);
      }
      const anonymous = await fetch(`${url}/hosts`);
      assert.equal(anonymous.status, 401);
      const post = await fetch(`${url}/rollouts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sot: 'lab' }),
      });
      assert.equal(post.status, 401, await post.text());
      const wrong = await fetch(`${url}/rollouts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer not-the-token' },
        body: JSON.stringify({ sot: 'lab' }),
      });
      assert.equal(wrong.status, 401);
      const deadline = Date.now() + 30_000;
      let ready = await fetch(`${url}/ready`);
      while (ready.status !== 200 && Date.now() < deadline) {
        await sleep(250);
        ready = await fetch(`${url}/ready`);
      }
      assert.equal(ready.status, 200, await ready.text());
    });

    it('runs as the image user, and its control worker polls Temporal with the prebuilt bundle', async () => {
      const id = await podman(['exec', server, 'id', '-u']);
      assert.equal(id.stdout.trim(), String(UID));
      const text = await logs(server);
      assert.match(text, /control worker in process/);
      // deploy/compose.yaml's health check, run in this container as compose would.
      const compose = parse(readFileSync(path.join(PROJECT_ROOT, 'deploy', 'compose.yaml'), 'utf8')) as {
        services: Record<string, { healthcheck?: { test: string[] } }>;
      };
      const check = compose.services['vaquero-server']!.healthcheck!.test;
      assert.equal(check[0], 'CMD');
      const health = await podman(['exec', server, ...check.slice(1)]);
      assert.equal(health.code, 0, health.stderr);
      const deadline = Date.now() + 30_000;
      for (;;) {
        const d = await temporal.client.workflowService.describeTaskQueue({
          namespace: temporal.namespace,
          taskQueue: { name: CONTROL_TASK_QUEUE },
          taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
        });
        if ((d.pollers ?? []).length > 0) break;
        if (Date.now() > deadline) assert.fail(`no workflow poller on ${CONTROL_TASK_QUEUE}:\n${text}`);
        await sleep(500);
      }
    });
  });

  describe('vaquero agent', () => {
    const serverNs = `vq${process.pid % 100000}img`;
    const clientNs = `vq${process.pid % 100000}imc`;
    const serverIf = `${serverNs}v`.slice(-15);
    const clientIf = `${clientNs}v`.slice(-15);
    const etc = path.join(scratch, 'agent-etc');

    before(() => {
      createNamespace(serverNs);
      createNamespace(clientNs);
      execFileSync('ip', ['link', 'add', serverIf, 'type', 'veth', 'peer', 'name', clientIf]);
      execFileSync('ip', ['link', 'set', serverIf, 'netns', serverNs]);
      execFileSync('ip', ['link', 'set', clientIf, 'netns', clientNs]);
      execFileSync('ip', ['-n', serverNs, 'addr', 'add', `${PREFIX}.1/24`, 'dev', serverIf]);
      execFileSync('ip', ['-n', serverNs, 'link', 'set', serverIf, 'up']);
      execFileSync('ip', ['-n', clientNs, 'link', 'set', clientIf, 'address', RESERVED_MAC]);
      execFileSync('ip', ['-n', clientNs, 'link', 'set', clientIf, 'up']);
      mkdirSync(etc, { mode: 0o755 });
      writeFileSync(
        path.join(etc, 'agent.yml'),
        [
          'agent_id: image-agent',
          'site: lab',
          'data_dir: /var/lib/vaquero-agent',
          'temporal:',
          // Nothing listens there: the agent serves from its cached model while Temporal is away.
          '  address: 127.0.0.1:7233',
          '  namespace: vaquero',
          // Never reached, so nothing to encrypt: said explicitly, as the agent requires.
          '  codec: { off: true }',
          'interfaces:',
          `  - { name: ${serverIf}, address: ${PREFIX}.1, cidr: ${PREFIX}.0/24 }`,
          'dhcp: { enabled: true, mode: server }',
          'tftp: { enabled: true, root: /usr/lib/ipxe }',
          `http: { listen: ${PREFIX}.1, port: 8080 }`,
          '',
        ].join('\n'),
        { mode: 0o644 },
      );
    });

    after(() => {
      deleteNamespace(clientNs);
      deleteNamespace(serverNs);
    });

    /** A data dir whose cache holds the site model (agent/model-cache.ts) with the reserved MAC, owned by `uid`. */
    function dataDir(name: string, uid: number): string {
      const dir = path.join(scratch, name);
      mkdirSync(path.join(dir, 'cache'), { recursive: true });
      const model: SiteModel = {
        sot: 'image-test',
        revision: 'r1',
        site: 'lab',
        httpUrl: `http://${PREFIX}.1:8080`,
        dhcpMode: 'server',
        subnets: [
          {
            id: 'lab',
            cidr: `${PREFIX}.0/24`,
            netmask: '255.255.255.0',
            gateway: `${PREFIX}.1`,
            dns: [],
            ntp: [],
            domain: 'lab.example',
            dhcpOptions: [],
          },
        ],
        reservations: [
          { host: 'node-07', mac: RESERVED_MAC, ipv4: RESERVED_IP, hostname: 'node-07', subnet: 'lab' },
        ],
      };
      writeFileSync(path.join(dir, 'cache', 'site-model.json'), JSON.stringify(model));
      execFileSync('chown', ['-R', `${uid}:${uid}`, dir]);
      return dir;
    }

    // README.md's agent line, with the namespace's network standing for the host's (`ip netns exec` cannot run
    // podman: runc finds no cgroup mount under the namespace's own /sys).
    const agentArgs = (data: string): string[] => [
      '--network',
      `ns:/run/netns/${serverNs}`,
      '-v',
      `${etc}/agent.yml:/etc/vaquero/agent.yml:ro`,
      '-v',
      `${data}:/var/lib/vaquero-agent`,
      img.image,
      'agent',
      '--config',
      '/etc/vaquero/agent.yml',
    ];

    /** udhcpc in the client namespace: the lease it got, if any. */
    async function dhcpLease(): Promise<string> {
      execFileSync('ip', ['-n', clientNs, 'addr', 'flush', 'dev', clientIf]);
      const r = await runInNs(clientNs, 'udhcpc', ['-i', clientIf, '-n', '-q', '-f', '-t', '5', '-T', '2'], {
        timeoutMs: 30_000,
      });
      return /lease of (\S+) obtained/.exec(r.stdout + r.stderr)?.[1] ?? `none:\n${r.stdout}${r.stderr}`;
    }

    it('--check prints the plan and exits 0', async () => {
      const r = await podman([
        'run',
        '--rm',
        '--network',
        'none',
        '-v',
        `${etc}/agent.yml:/etc/vaquero/agent.yml:ro`,
        img.image,
        'agent',
        '--config',
        '/etc/vaquero/agent.yml',
        '--check',
      ]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /agent image-agent, site lab/);
      assert.match(r.stdout, /TFTP: port 69, root \/usr\/lib\/ipxe/);
      assert.match(r.stdout, /BMC drivers: .*ipmi/);
      assert.match(r.stdout, /configuration OK/);
    });

    it('with no capability it cannot bind port 67', async () => {
      // The proof below is only one if ports under 1024 are privileged in that namespace.
      const sysctl = await runInNs(serverNs, 'sysctl', ['-n', 'net.ipv4.ip_unprivileged_port_start']);
      assert.equal(sysctl.stdout.trim(), '1024');
      const data = dataDir('agent-nocap', 0);
      const r = await podman(['run', '--rm', '--user', '0', '--cap-drop', 'all', ...agentArgs(data)], 90_000);
      assert.notEqual(r.code, 0);
      assert.match(r.stdout + r.stderr, /cannot bind 0\.0\.0\.0:67: bind EACCES/);
    });

    it('with host networking and CAP_NET_BIND_SERVICE alone, as root, answers a real DHCP client and serves TFTP', async () => {
      const data = dataDir('agent-root', 0);
      // --read-only as well: the Kubernetes DaemonSet runs it with a read-only root filesystem.
      const agent = await start('agent-root', [...AGENT_RUN_FLAGS, '--read-only', ...agentArgs(data)]);
      await waitForLog(agent, /serving HTTP on/, 90_000);
      const caps = await podman(['exec', agent, 'grep', 'CapEff', '/proc/1/status']);
      assert.match(caps.stdout, /CapEff:\s+0000000000000400/); // CAP_NET_BIND_SERVICE (10) only
      assert.equal(await dhcpLease(), RESERVED_IP);
      const out = path.join(scratch, 'undionly.kpxe');
      const tftp = await runInNs(clientNs, 'curl', [
        '-sS',
        '--max-time',
        '10',
        '--tftp-blksize',
        '1468',
        '-o',
        out,
        `tftp://${PREFIX}.1/undionly.kpxe`,
      ]);
      assert.equal(tftp.code, 0, tftp.stderr);
      assert.ok(statSync(out).size > 10_000);
      const http = await runInNs(clientNs, 'curl', [
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        `http://${PREFIX}.1:8080/health`,
      ]);
      assert.match(http.stdout, /^(200|503)$/);
      await podman(['rm', '-f', '-t', '5', agent]);
    });

    it('under podman the image user with the same one capability works too (podman makes it ambient)', async () => {
      const data = dataDir('agent-user', UID);
      // README's flags without `--user 0`.
      const agent = await start('agent-user', [...AGENT_RUN_FLAGS.slice(2), ...agentArgs(data)]);
      await waitForLog(agent, /serving HTTP on/, 90_000);
      const id = await podman(['exec', agent, 'id', '-u']);
      assert.equal(id.stdout.trim(), String(UID));
      assert.equal(await dhcpLease(), RESERVED_IP);
      await podman(['rm', '-f', '-t', '5', agent]);
    });
  });
});
