// What a lab host booted through shim and GRUB must show, whatever its architecture: the firmware offered shim,
// the tiny OS an address only; the usual boot steps (the config fetch as the script step); shim, GRUB and the
// bootstrap config over TFTP, then the host's own config, the kernel and the initrd; and on the console, shim
// fetching GRUB, GRUB running our config and the tiny OS reaching its checkpoint.
import assert from 'node:assert/strict';
import type { LabRun } from '../../lab/run.ts';
import type { ScenarioHost } from '../../lab/scenario.ts';
import { TINY_MARKERS } from '../../lab/tiny-initrd.ts';
import { explainRun } from './explain-run.ts';

/** Event kinds in order, repeats collapsed, without refusals (shim and GRUB ask for optional files first). */
export function bootSteps(h: ScenarioHost): string[] {
  const kinds = h.boot!.events.map((e) => e.kind).filter((k) => k !== 'refused');
  return kinds.filter((k, i) => k !== kinds[i - 1]);
}

export interface GrubChain {
  /** `shimx64.efi` or `shimaa64.efi`. */
  shim: string;
  /** `grubx64.efi` or `grubaa64.efi`. */
  grub: string;
  ip: string;
  mac: string;
  /** The agent's address, as GRUB names its TFTP server in BOOT_IMAGE. */
  agent: string;
}

export function assertGrubChainBoot(run: LabRun, h: ScenarioHost | undefined, c: GrubChain): void {
  assert.ok(h?.boot, explainRun(run));
  assert.equal(h.status?.state, 'provisioned', explainRun(run));
  const events = h.boot.events;
  const dhcp = events.filter((e) => e.kind === 'dhcp').map((e) => e.detail);
  assert.deepEqual(
    dhcp.filter((d, i) => d !== dhcp[i - 1]),
    [`DHCPOFFER ${c.ip} ${c.shim}`, `DHCPACK ${c.ip} ${c.shim}`, `DHCPOFFER ${c.ip}`, `DHCPACK ${c.ip}`],
    explainRun(run),
  );
  assert.deepEqual(
    bootSteps(h),
    ['dhcp', 'tftp', 'ipxe', 'kernel', 'initrd', 'dhcp', 'checkpoint'],
    explainRun(run),
  );
  const tftp = events.filter((e) => e.kind === 'tftp').map((e) => e.detail);
  for (const file of [c.shim, c.grub, 'grub/grub.cfg'])
    assert.ok(
      tftp.some((d) => d.startsWith(`TFTP ${file} sent`)),
      `${file} over TFTP: ${tftp.join(' | ')}`,
    );
  const detail = (kind: string) => events.find((e) => e.kind === kind)?.detail ?? '';
  assert.match(detail('ipxe'), new RegExp(`^GRUB over TFTP: grub/hosts/${c.mac}\\.cfg sent`));
  assert.match(detail('kernel'), /^GRUB over TFTP: assets\/linux sent/);
  assert.match(detail('initrd'), /^GRUB over TFTP: assets\/tiny-initrd\.gz sent/);
  const serial = h.machine.serial;
  assert.match(serial, new RegExp(`Fetching Netboot Image ${c.grub.replace('.', '\\.')}`));
  assert.match(serial, new RegExp(`vaquero: host ${h.name}, stage 1`));
  assert.match(
    serial,
    new RegExp(`TINY: cmdline BOOT_IMAGE=\\(tftp,${c.agent.replace(/\./g, '\\.')}\\)/assets/linux `),
  );
  assert.match(serial, new RegExp(TINY_MARKERS.callbackOk));
}
