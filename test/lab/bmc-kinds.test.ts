// Hosts with `container` and `ssh` BMCs, and a boot with `before_shutdown` and `validate` task containers,
// reprovisioned on QEMU (TCG) through an agent made by startAgent from its config file alone, as `vaquero agent
// --config` makes it: the config names the lab's podman service (its Docker API) as `tasks.engine`, and nothing
// else gives the agent its container driver or its task runner.
//   * cbmc-1: its BMC is a container image (busybox + ipmitool) the container driver runs per call, host network
//     in the lab namespace, driving the VM's ipmi_sim with the credentials from BMC_CREDENTIALS_FILE;
//   * ssh-1: its "running OS" is a real sshd (throwaway host key, pinned; one authorized key from the agent's
//     secrets file). The VM runs before the rollout (no gate open for it, nothing to boot); the ssh driver's
//     reboot command resets it through its ipmi_sim and stops the sshd, and the VM then netboots through the
//     agent. Its boot has a before_shutdown and a validate task, run on the lab's podman.
// Both boots serve the lab's unattended config (its join token a secret reference), and the validate task gets the
// same token as a secret env (`JOIN_TOKEN: { secret: lab-join-token }`): the VMs and the task must see the value
// from the agent's store, and no workflow history of the run the token, the rendered config or the task env's
// reference in clear (issue 16).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { ensurePodmanConf } from '../../cli/setup/podman.ts';
import type { TimelineEntry } from '../../domain/host.ts';
import { LAB_TASK_IMAGE } from '../../lab/podman.ts';
import type { LabRun } from '../../lab/run.ts';
import { runLab } from '../../lab/run.ts';
import type { ScenarioHost, ScenarioReport } from '../../lab/scenario.ts';
import { TINY_MARKERS } from '../../lab/tiny-initrd.ts';
import { requireLabRoot } from '../../lab/topology.ts';
import { LAB_JOIN_TOKEN_REF } from '../../lab/sot.ts';
import { secretPlaceholder } from '../../domain/secret.ts';
import { explainRun } from './explain-run.ts';
import { assertNoSecretInHistories, runJoinToken } from './history-secrets.ts';

requireLabRoot();

const run$ = promisify(execFile);
const tag = `${process.pid % 100000}`;
const SITE = 'lab-bmc';

function host(r: ScenarioReport, name: string): ScenarioHost {
  const h = r.hosts.find((x) => x.name === name);
  assert.ok(h, `no report for ${name}`);
  return h;
}

function entries(h: ScenarioHost, kind: string): TimelineEntry[] {
  return (h.status?.timeline ?? []).filter((e) => e.kind === kind);
}

/** The agent's boot events, in order (repeats collapsed), then the tiny OS's callback on its console. */
function assertBootedThroughAgent(h: ScenarioHost, run: LabRun): void {
  assert.equal(h.status?.state, 'provisioned', explainRun(run));
  assert.deepEqual(
    h.boot?.sequence,
    ['dhcp', 'ipxe', 'kernel', 'initrd', 'dhcp', 'config', 'checkpoint'],
    explainRun(run),
  );
  const dhcp = h.boot!.events.filter((e) => e.kind === 'dhcp').map((e) => e.detail);
  assert.ok(
    dhcp.some((d) => d.startsWith(`DHCPACK ${h.openGate?.ipv4} http://`)),
    `iPXE got its script URL: ${dhcp.join(' | ')}`,
  );
  assert.equal(h.boot!.events.find((e) => e.kind === 'kernel')?.detail, '/assets/linux');
  assert.match(h.machine.serial, new RegExp(TINY_MARKERS.callbackOk));
}

describe(
  'lab: container and ssh BMCs, task containers, an agent from its config alone',
  { timeout: 300_000 },
  () => {
    let run: LabRun;
    let r: ScenarioReport;
    let started: number;

    before(async () => {
      started = Date.now();
      const shell = (script: string) => ({ command: ['/bin/sh', '-c'], args: [script] });
      run = await runLab({
        name: `vqb${tag}`,
        prefix: '10.77.54',
        site: SITE,
        dhcpMode: 'server',
        containersConf: await ensurePodmanConf(),
        vms: [
          {
            name: 'cbmc-1',
            firmware: 'bios',
            mac: '52:54:00:77:54:0a',
            ipv4: '10.77.54.10',
            bmc: 'container',
          },
          { name: 'ssh-1', firmware: 'bios', mac: '52:54:00:77:54:0b', ipv4: '10.77.54.11', bmc: 'ssh' },
        ],
        // ssh-1 is host 1: it boots tiny-b.
        bootTasks: {
          'tiny-a': { unattended: true },
          'tiny-b': {
            unattended: true,
            before_shutdown: [
              {
                name: 'drain',
                image: LAB_TASK_IMAGE,
                ...shell('echo "draining $VAQUERO_HOST ($VAQUERO_PHASE)"'),
              },
            ],
            validate: [
              {
                name: 'smoke',
                image: LAB_TASK_IMAGE,
                // A task that uses the join token says only its fingerprint: its output goes to the timeline.
                env: { JOIN_TOKEN: { secret: LAB_JOIN_TOKEN_REF } },
                ...shell(
                  'echo "validated $VAQUERO_HOST at boot stage $VAQUERO_BOOT_STAGE, join token sha256 $(printf %s "$JOIN_TOKEN" | sha256sum | cut -d" " -f1)"',
                ),
              },
            ],
          },
        },
        // Kept for the histories (the run's Temporal data) and the agent's join token; removed after.
        keepDir: true,
        timeoutMs: 220_000,
      });
      assert.ok(run.report, `no report from the scenario: ${explainRun(run)}`);
      r = run.report;
    });
    after(() => (run ? rm(run.dir, { recursive: true, force: true }) : undefined));

    it('provisions both hosts and leaves no process, namespace or container behind', async (t) => {
      t.diagnostic(`run ${(Date.now() - started) / 1000}s; timings ${JSON.stringify(r.timings)}`);
      assert.equal(r.ok, true, explainRun(run));
      assert.equal(r.rollout?.provisioned, 2);
      assert.deepEqual(
        run.left,
        { pids: [], namespaces: [] },
        'every process and namespace of the run is gone',
      );
      assert.deepEqual(run.killedLeftovers, [], 'the scenario itself ended everything it started');
      const { stdout } = await run$(
        'podman',
        ['ps', '-a', '--format', '{{.Names}}', '--filter', `label=vaquero.site=${SITE}`],
        { env: { ...process.env, CONTAINERS_CONF: await ensurePodmanConf() } },
      );
      assert.equal(stdout.trim(), '', 'every BMC and task container was removed');
    });

    it("the agent's container driver and task runner came from its config's tasks.engine", () => {
      assert.match(r.podman?.endpoint ?? '', /^unix:\/\/\/.*\/podman\.sock$/);
      assert.equal(r.agent?.tasksEngine, r.podman?.endpoint);
      assert.deepEqual(r.agent?.drivers, ['container', 'ipmi', 'redfish', 'ssh']);
    });

    it('container BMC: each call ran the BMC image, whose ipmitool set the boot device and powered the VM on', () => {
      const h = host(r, 'cbmc-1');
      assert.equal(h.bmcKind, 'container');
      // Written by the image's script into the directory the SoT binds at /log: only a container of it writes there.
      const calls = (h.bmcContainerCalls ?? []).map((l) => l.replace(/^\d+ cbmc-1 /, '').trim());
      assert.deepEqual(
        calls,
        [
          'bootdev-set network -> ok',
          'bootdev-get -> boot: network persistent: false',
          'status -> power: off',
          'on -> ok',
          'status -> power: on',
        ],
        explainRun(run),
      );
      // What the ipmi_sim saw, from those containers' ipmitool: boot from PXE, then power on, which started the VM.
      const power = h.machine.powerLog.map((p) => p.what);
      const bootAt = power.indexOf('set boot pxe');
      const onAt = power.indexOf('set power 1');
      const vmAt = power.findIndex((s) => /^vm start pid=\d+ boot=pxe$/.test(s));
      assert.ok(bootAt >= 0 && bootAt < onAt && onAt < vmAt, `power log: ${power.join(' | ')}`);
      assert.deepEqual(h.machine.powerOns, ['pxe']);
      assert.ok(
        entries(h, 'power').some((e) =>
          /power cycled: next boot network \(once\), power turned on, now on/.test(e.message),
        ),
        'the power stage read the boot device and the power back through the container',
      );
      assertBootedThroughAgent(h, run);
    });

    it('ssh: the reboot command reset the running VM and stopped its sshd; the VM then booted through the agent', () => {
      const h = host(r, 'ssh-1');
      assert.equal(h.bmcKind, 'ssh');
      const ssh = h.ssh!;
      assert.ok(ssh, explainRun(run));
      // Before the rollout the VM ran and its netboot found nothing to boot (no gate was open for it).
      assert.match(ssh.serialBeforeRollout ?? '', /Nothing to boot/);
      const log = ssh.rebootLog.map((l) => l.what);
      assert.deepEqual(
        log.filter((l) => !/^Chassis Power Control/.test(l)).map((l) => l.replace(/\d+/, 'N')),
        ['reboot requested over ssh', 'VM reset through its BMC', 'sshd N stopped'],
        explainRun(run),
      );
      assert.ok(log.includes('Chassis Power Control: Reset'), log.join(' | '));
      const requested = ssh.rebootLog[0]!.at!;
      assert.ok(
        ssh.sshdExit && ssh.sshdExit.at >= requested,
        `the sshd ended after the reboot: ${JSON.stringify(ssh)}`,
      );
      const powerMsg = entries(h, 'power').map((e) => e.message);
      assert.ok(
        powerMsg.some((m) =>
          /power cycled: rebooted over ssh \(\S+reboot\.sh\); down after \d+(\.\d+)?s/.test(m),
        ),
        powerMsg.join('\n'),
      );
      // The ipmi_sim: powered on (network first) by the lab before the rollout, then reset by the reboot command
      // while that VM still ran (stopped, started again), and nothing else: the agent never touched it.
      const power = h.machine.powerLog;
      const what = power.map((p) => p.what.replace(/pid=\d+/, 'pid=N'));
      assert.deepEqual(
        what,
        [
          'set boot pxe',
          'set power 1',
          'vm start pid=N boot=pxe',
          'set reset 1',
          'vm stop pid=N',
          'vm start pid=N boot=pxe',
        ],
        explainRun(run),
      );
      const [firstVm, reset] = [power[2]!, power[3]!];
      assert.equal(power[4]!.what, firstVm.what.replace('start', 'stop').replace(/ boot=\S+/, ''));
      const powerStage = h.status!.timeline.find((e) => e.kind === 'stage' && e.stage === 'power')!;
      assert.ok(firstVm.at < powerStage.at, 'the VM ran before the power stage');
      assert.ok(
        reset.at >= powerStage.at && reset.at >= requested,
        'the reset was the reboot command, in the power stage',
      );
      assert.ok(h.boot!.events[0]!.at >= reset.at, 'every boot event came after the reset');
      assertBootedThroughAgent(h, run);
    });

    it("ssh-1's before_shutdown and validate tasks ran on the agent's task runner, their output in its timeline", async () => {
      const h = host(r, 'ssh-1');
      const tasks = entries(h, 'task');
      // The validate task's JOIN_TOKEN was the value from the agent's store, not the reference.
      const fingerprint = createHash('sha256')
        .update(await runJoinToken(run))
        .digest('hex');
      assert.deepEqual(
        tasks.map((e) => [e.stage, e.message]),
        [
          ['pre-shutdown', 'before_shutdown drain: ok (exit 0)\ndraining ssh-1 (before_shutdown)\n'],
          [
            'validate',
            `validate smoke: ok (exit 0)\nvalidated ssh-1 at boot stage 1, join token sha256 ${fingerprint}\n`,
          ],
        ],
        explainRun(run),
      );
      const tl = h.status!.timeline;
      const drain = tl.indexOf(tasks[0]!);
      const powerAt = tl.findIndex((e) => e.kind === 'stage' && e.stage === 'power');
      const checkpointAt = tl.findIndex((e) => e.kind === 'event' && e.message.startsWith('checkpoint from'));
      const smoke = tl.indexOf(tasks[1]!);
      assert.ok(
        drain < powerAt && checkpointAt < smoke,
        'drain before the reboot, smoke after the checkpoint',
      );
      assert.equal(entries(host(r, 'cbmc-1'), 'task').length, 0, "tiny-a's boot has no tasks");
    });

    it("each VM is served its config with the join token from the agent's store", async () => {
      const fingerprint = createHash('sha256')
        .update(await runJoinToken(run))
        .digest('hex');
      for (const name of ['cbmc-1', 'ssh-1']) {
        const serial = host(r, name).machine.serial;
        assert.ok(serial.includes(`${TINY_MARKERS.joinToken} ${fingerprint}`), `${name}: ${explainRun(run)}`);
      }
    });

    it('no workflow history of the run holds the join token, the rendered config or the task env', (t) =>
      assertNoSecretInHistories(t, run, {
        site: SITE,
        configHosts: ['cbmc-1', 'ssh-1'],
        // The validate task's input carries the env's reference (encrypted).
        decodedAlso: { 'ssh-1': [`"JOIN_TOKEN":"${secretPlaceholder(LAB_JOIN_TOKEN_REF)}"`] },
      }));
  },
);
