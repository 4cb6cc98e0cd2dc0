// An arm64 UEFI host reprovisioned through the agent, on real firmware under emulation: an aarch64 VM
// (qemu-system-aarch64 -M virt, a Cortex-A57 under TCG, lab firmware `arm64-uefi`) with Debian's AAVMF, its SoT
// entry `loader: grub`. Its EDK2 PXE asks with arch 11; the agent answers with Debian's signed arm64 shim over TFTP
// (shimaa64.efi), shim loads the signed arm64 GRUB netboot image beside it (grubaa64.efi), GRUB reads the agent's
// bootstrap grub/grub.cfg and then the host's own config, and loads the arm64 d-i kernel and the arm64 tiny initrd
// (arm64 busybox-static, the arm64 d-i modules) over TFTP; the tiny OS takes its lease and calls the checkpoint. The
// same boot steps as every other path: the config fetch as the script step, kernel, initrd, checkpoint.
//
// Slow by nature (an aarch64 CPU emulated on a shared x86 machine): every wait is bounded (lab/arm64-assets.ts:
// the workflow's step timeouts, each QEMU run, the rollout, the whole run, all inside the suite's 10 minutes).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { LabRun } from '../../lab/run.ts';
import { runLab } from '../../lab/run.ts';
import type { ScenarioReport } from '../../lab/scenario.ts';
import { TINY_MARKERS } from '../../lab/tiny-initrd.ts';
import { requireLabRoot } from '../../lab/topology.ts';
import { explainRun } from './explain-run.ts';
import { assertGrubChainBoot } from './grub-chain-checks.ts';

requireLabRoot();

const tag = `${process.pid % 100000}`;
const P = '10.77.65';
const MAC = '52:54:00:77:65:0a';

describe('lab, arm64 UEFI through the arm64 shim and GRUB', { timeout: 590_000 }, () => {
  let run: LabRun;
  let r: ScenarioReport;

  before(async () => {
    run = await runLab({
      name: `vql${tag}a`,
      prefix: P,
      dhcpMode: 'server',
      vms: [{ name: 'arm-1', firmware: 'arm64-uefi', mac: MAC, ipv4: `${P}.10` }],
      rolloutTimeoutS: 480,
      timeoutMs: 570_000,
    });
    assert.ok(run.report, `no report from the scenario: ${explainRun(run)}`);
    r = run.report;
  });

  it('reprovisions the arm64 host to provisioned and leaves nothing behind', () => {
    assert.equal(r.ok, true, explainRun(run));
    assert.equal(r.rollout?.provisioned, 1);
    assert.deepEqual(run.left, { pids: [], namespaces: [] });
    assert.deepEqual(run.killedLeftovers, []);
  });

  it('arch 11 gets the arm64 shim by TFTP, then GRUB, its config, kernel and initrd by TFTP, then the tiny OS', (t) => {
    const h = r.hosts.find((x) => x.name === 'arm-1');
    t.diagnostic(JSON.stringify(h?.boot?.firstAt));
    assertGrubChainBoot(run, h, {
      shim: 'shimaa64.efi',
      grub: 'grubaa64.efi',
      ip: `${P}.10`,
      mac: MAC,
      agent: `${P}.1`,
    });
    // The arm64 firmware's PXE ran, and the arm64 kernel GRUB loaded had the PL011 console the lab adds for arm64
    // and took the host's lease.
    const serial = h!.machine.serial;
    assert.match(serial, /Start PXE over IPv4/);
    assert.match(serial, /TINY: cmdline BOOT_IMAGE=\S+ .*console=ttyAMA0/);
    assert.match(serial, new RegExp(`${TINY_MARKERS.lease} \\S+ ${MAC} ${P.replace(/\./g, '\\.')}\\.10/`));
  });
});
