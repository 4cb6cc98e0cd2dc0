// `vaquero lab up|status|down|demo` (root): the virtual datacenter of lab/ — QEMU VMs with ipmi_sim BMCs in
// network namespaces, reprovisioned by a real stack. The work is in lab/cli.ts; this is the command line.
import type { Command } from 'commander';
import { describeReady, labDown, labStatus, labUp } from '../../lab/cli.ts';
import type { LabUpOptions } from '../../lab/cli.ts';

interface UpFlags {
  vms: string;
  firmware: string;
  dhcp: string;
  name: string;
  prefix: string;
}

function upOptions(f: UpFlags, demo: boolean): LabUpOptions {
  if (!['bios', 'uefi', 'mixed', 'arm64'].includes(f.firmware))
    throw new Error('--firmware must be bios, uefi, mixed or arm64');
  if (!['server', 'proxy'].includes(f.dhcp)) throw new Error('--dhcp must be server or proxy');
  return {
    vms: Number(f.vms),
    firmware: f.firmware as LabUpOptions['firmware'],
    dhcp: f.dhcp as LabUpOptions['dhcp'],
    name: f.name,
    prefix: f.prefix,
    demo,
  };
}

const say = (l: string) => process.stdout.write(`${l}\n`);

function withUpFlags(c: Command, vms: string): Command {
  return c
    .option('--vms <n>', 'number of VMs', vms)
    .option(
      '--firmware <kind>',
      'bios, uefi, mixed (alternating) or arm64 (emulated aarch64 UEFI VMs booting through shim and GRUB; slow)',
      'mixed',
    )
    .option('--dhcp <mode>', 'server (the agent answers DHCP) or proxy (kea is the DHCP server)', 'server')
    .option('--name <ns>', 'the lab namespace (1-11 of a-z, 0-9, -)', 'vaqlab')
    .option('--prefix <a.b.c>', "the lab /24's first three octets", '10.77.60');
}

export function register(program: Command): void {
  const lab = program.command('lab').description('a virtual datacenter of QEMU VMs with IPMI BMCs (root)');
  withUpFlags(
    lab.command('up').description('start the lab, roll out its SoT, and leave it running'),
    '3',
  ).action(async (f: UpFlags) => {
    const t0 = Date.now();
    const r = await labUp(upOptions(f, false), say);
    if (r.ready)
      say(
        [
          `lab ${f.name} is up (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
          ...describeReady(f.name, r.ready),
        ].join('\n'),
      );
    if (!r.ok) {
      say(
        `the lab is not healthy${r.ready?.error ? `: ${r.ready.error}` : ''}; \`vaquero lab down\` removes it`,
      );
      process.exitCode = 1;
    }
  });
  lab
    .command('status')
    .description('whether a lab is up, its URLs and its rollouts')
    .action(async () => {
      const s = await labStatus();
      say(s.text);
      if (!s.up) process.exitCode = 3;
    });
  lab
    .command('down')
    .description('stop everything the lab started and remove its namespaces and state')
    .action(async () => {
      await labDown(say);
    });
  withUpFlags(
    lab
      .command('demo')
      .description('up, then a commit that changes one OS profile: plan, rollout, validation; then down')
      .option('--keep', 'leave the lab up afterwards (for the Temporal UI links)'),
    '3',
  ).action(async (f: UpFlags & { keep?: boolean }) => {
    const t0 = Date.now();
    const r = await labUp(upOptions(f, true), say);
    if (r.ready) say(describeReady(f.name, r.ready).join('\n'));
    const demo = r.ready?.phases.find((p) => p.name === 'demo');
    if (!r.ok || !demo) process.exitCode = 1;
    if (!f.keep) await labDown(say);
    say(
      `demo ${process.exitCode ? 'FAILED' : 'ok'} in ${((Date.now() - t0) / 1000).toFixed(1)} s${f.keep ? ' (lab left up: vaquero lab down)' : ''}`,
    );
  });
}
