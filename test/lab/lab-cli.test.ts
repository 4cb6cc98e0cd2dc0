// The lab end to end: three VMs (BIOS and UEFI) reprovisioned by their IPMI BMCs, once in server mode with the
// demo's second commit and a BMC that dies mid-rollout, once in proxy mode beside kea; then `vaquero lab up` and
// `vaquero lab down` as a user runs them. What was reprovisioned is read from each ipmi_sim's own power log,
// not from vaquero's view.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LabRun } from '../../lab/run.ts';
import { runLab, runProcesses } from '../../lab/run.ts';
import type { PhaseReport, ScenarioReport } from '../../lab/scenario.ts';
import { destroyLabNetwork, labNamespaces, requireLabRoot } from '../../lab/topology.ts';
import { explainRun } from './explain-run.ts';

requireLabRoot();

const tag = `${process.pid % 100000}`;

const explain = explainRun;

function phase(r: ScenarioReport, name: string): PhaseReport {
  const p = r.phases.find((x) => x.name === name);
  assert.ok(p, `no ${name} phase in the report`);
  return p;
}

function assertCleanedUp(run: LabRun): void {
  assert.deepEqual(run.left, { pids: [], namespaces: [] }, 'every process and namespace of the run is gone');
  assert.deepEqual(run.killedLeftovers, [], 'the scenario itself ended everything it started');
}

// Host i boots OS profile tiny-a (even i) or tiny-b (odd i): the demo's commit changes tiny-b only.
const serverVms = [
  { name: 'vm1', firmware: 'bios', mac: '52:54:00:77:52:0a', ipv4: '10.77.52.10' },
  { name: 'vm2', firmware: 'uefi', mac: '52:54:00:77:52:0b', ipv4: '10.77.52.11' },
  { name: 'vm3', firmware: 'bios', mac: '52:54:00:77:52:0c', ipv4: '10.77.52.12' },
] as const;

describe(
  'lab, server mode: initial rollout, the demo commit, a BMC lost mid-rollout',
  { timeout: 420_000 },
  () => {
    let run: LabRun;
    let r: ScenarioReport;
    before(async () => {
      run = await runLab({
        name: `vqd${tag}s`,
        prefix: '10.77.52',
        dhcpMode: 'server',
        vms: [...serverVms],
        demo: true,
        bmcFailure: { host: 'vm3', maxFail: 1 },
        timeoutMs: 400_000,
      });
      assert.ok(run.report, `no report from the scenario: ${explain(run)}`);
      r = run.report;
    });

    it('initial rollout: every VM provisioned, each powered on once by its BMC, the booted command line validated', () => {
      const p = phase(r, 'initial');
      assert.equal(p.rollout?.state, 'completed', explain(run));
      assert.equal(p.rollout?.provisioned, 3);
      assert.deepEqual(p.powerOns, { vm1: 1, vm2: 1, vm3: 1 });
      for (const vm of serverVms) {
        assert.equal(p.hosts[vm.name]?.state, 'provisioned');
        assert.equal(p.hosts[vm.name]?.validated, true, `${vm.name} validated its booted command line`);
      }
    });

    it('the demo commit: the plan names exactly the tiny-b hosts, and only their BMCs power them on again', () => {
      const p = phase(r, 'demo');
      assert.deepEqual(p.planned, ['vm2']);
      assert.equal(p.rollout?.state, 'completed', explain(run));
      assert.equal(p.rollout?.provisioned, 1);
      assert.deepEqual(p.powerOns, { vm1: 0, vm2: 1, vm3: 0 }, 'ipmi_sim power-ons during the demo rollout');
      assert.match(p.hosts.vm2?.bootedCmdline ?? '', /(^| )vaquero\.demo=2( |$)/);
      assert.equal(p.hosts.vm2?.validated, true);
    });

    it("a BMC lost mid-rollout fails its host with the driver's reason; the others finish within max_fail", () => {
      const p = phase(r, 'bmc-failure');
      assert.deepEqual(p.planned, ['vm1', 'vm2', 'vm3']);
      // One failure is within max_fail 1: the rollout ends 'failed' (a host failed) rather than 'halted' (the
      // policy's stop), and every other host was started and finished.
      assert.equal(p.rollout?.state, 'failed', explain(run));
      assert.equal(p.rollout?.reason, '1 host(s) failed');
      assert.equal(p.rollout?.notStarted, 0);
      assert.equal(p.rollout?.provisioned, 2);
      assert.deepEqual(
        p.rollout?.failedHosts.map((h) => h.replace(/^.*\//, '')),
        ['vm3'],
      );
      assert.equal(p.hosts.vm3?.state, 'failed');
      assert.match(p.hosts.vm3?.error ?? '', /BMC power cycle failed: .*ipmi/i);
      assert.equal(p.powerOns.vm3, 0);
      for (const vm of ['vm1', 'vm2']) {
        assert.equal(p.hosts[vm]?.state, 'provisioned');
        assert.equal(p.powerOns[vm], 1);
        assert.match(p.hosts[vm]?.bootedCmdline ?? '', /vaquero\.bmc-test=1/);
      }
    });

    it('leaves nothing behind', () => assertCleanedUp(run));
  },
);

describe('lab, proxy mode beside kea: three mixed VMs provisioned', { timeout: 300_000 }, () => {
  let run: LabRun;
  before(async () => {
    run = await runLab({
      name: `vqd${tag}p`,
      prefix: '10.77.53',
      dhcpMode: 'proxy',
      keaPool: ['10.77.53.200', '10.77.53.220'],
      vms: [
        { name: 'vm1', firmware: 'uefi', mac: '52:54:00:77:53:0a', ipv4: '10.77.53.10' },
        { name: 'vm2', firmware: 'bios', mac: '52:54:00:77:53:0b', ipv4: '10.77.53.11' },
        { name: 'vm3', firmware: 'uefi', mac: '52:54:00:77:53:0c', ipv4: '10.77.53.12' },
      ],
      timeoutMs: 240_000,
    });
  });

  it('every VM reaches provisioned with a kea lease, and nothing is left behind', () => {
    const r = run.report;
    assert.ok(r, explain(run));
    const p = phase(r, 'initial');
    assert.equal(p.rollout?.state, 'completed', explain(run));
    assert.deepEqual(p.powerOns, { vm1: 1, vm2: 1, vm3: 1 });
    for (const h of r.hosts) {
      assert.equal(p.hosts[h.name]?.state, 'provisioned');
      assert.ok(
        r.kea?.leases.some((l) => l.mac === h.machine.mac && l.ip.startsWith('10.77.53.2')),
        `kea leased to ${h.name}`,
      );
    }
    assertCleanedUp(run);
  });
});

describe('vaquero lab up / lab down', { timeout: 300_000 }, () => {
  let state: string;
  const name = `vqu${tag}`;
  const vaquero = (args: string[], env: NodeJS.ProcessEnv) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, ['bin/vaquero.js', ...args], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.once('exit', (code) => resolve({ code, out }));
    });
  before(async () => {
    state = await mkdtemp(path.join(tmpdir(), 'vaq-lab-state-'));
  });
  after(async () => {
    // Whatever happened, end what the lab of this test made: by pid (its command lines name the state dir).
    for (const p of await runProcesses(state)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
    destroyLabNetwork(name);
    await rm(state, { recursive: true, force: true });
  });

  it('up brings two VMs to provisioned and leaves the stack running; down removes everything', async () => {
    const env = { ...process.env, VAQUERO_LAB_DIR: state };
    const up = await vaquero(
      ['lab', 'up', '--vms', '2', '--firmware', 'mixed', '--name', name, '--prefix', '10.77.54'],
      env,
    );
    assert.equal(up.code, 0, up.out);
    assert.match(up.out, /agent +http:\/\/10\.77\.54\.1:8080/);
    const api = /api +(http:\/\/127\.0\.0\.1:\d+)/.exec(up.out)?.[1];
    assert.ok(api, up.out);
    // The API and the Temporal UI live on the namespace's loopback; `lab up` forwards them to the host's.
    const get = (url: string) =>
      spawnSync('curl', ['-sSL', '-o', '/dev/null', '-w', '%{http_code}', url], { encoding: 'utf8' });
    assert.equal(get(`${api}/live`).stdout, '200', 'the API server answers on the host');
    // The dashboard is the API's own (`vaquero server`), with an operate and a read token, both accepted.
    const dash =
      /dashboard +(http:\/\/127\.0\.0\.1:\d+)\/ \(sign in with a token: operate (\S+), read-only (\S+)\)/.exec(
        up.out,
      );
    assert.ok(dash, up.out);
    assert.equal(dash[1], api);
    for (const file of [dash[2]!, dash[3]!]) {
      const token = (await readFile(file, 'utf8')).trim();
      const code: string = spawnSync(
        'curl',
        [
          '-sS',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '-H',
          `authorization: Bearer ${token}`,
          `${api}/hosts`,
        ],
        { encoding: 'utf8' },
      ).stdout;
      assert.equal(code, '200', `${file}'s token reads the hosts`);
    }
    assert.equal(get(`${api}/`).stdout, '200', 'the dashboard answers (its sign-in form)');
    const ui = /temporal ui +(http:\/\/127\.0\.0\.1:\d+)/.exec(up.out)?.[1];
    assert.ok(ui, up.out);
    assert.equal(get(ui).stdout, '200', 'the Temporal UI answers on the host');
    assert.ok(labNamespaces(name).length > 0, 'the lab namespace exists while the lab is up');
    assert.ok((await runProcesses(state)).length > 0, 'the lab keeps running after `lab up` returned');
    const st = await vaquero(['lab', 'status'], env);
    assert.equal(st.code, 0, st.out);
    assert.match(st.out, /up/);
    const down = await vaquero(['lab', 'down'], env);
    assert.equal(down.code, 0, down.out);
    assert.deepEqual(labNamespaces(name), [], 'no namespace of the lab is left');
    assert.deepEqual(await runProcesses(state), [], 'no process naming the lab state dir is left');
    const links = await readFile('/proc/net/dev', 'utf8');
    assert.doesNotMatch(
      links,
      new RegExp(`${name}`),
      'no interface of the lab is left in the root namespace',
    );
  });
});
