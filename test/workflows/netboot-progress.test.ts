// Netboot progress is the highest step seen: a table of what the host workflow waits for next.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHECKPOINT_RANK, nextNetbootStep, rankOf } from '../../workflows/netboot-progress.ts';
import type { BootEventKind } from '../../domain/boot-events.ts';

test('ranks follow the boot order; kernel and initrd are one step', () => {
  const table: [BootEventKind, number][] = [
    ['dhcp', 1],
    ['tftp', 2],
    ['ipxe', 3],
    ['kernel', 4],
    ['initrd', 4],
    ['config', 5],
    ['checkpoint', 6],
  ];
  for (const [kind, rank] of table) assert.equal(rankOf(kind), rank, kind);
  assert.equal(CHECKPOINT_RANK, rankOf('checkpoint'));
});

test('the next awaited step, given the events seen so far', () => {
  // [events seen, hasConfig, next]
  const table: [BootEventKind[], boolean, ReturnType<typeof nextNetbootStep>][] = [
    [[], true, 'dhcp'],
    [[], false, 'dhcp'],
    [['dhcp'], true, 'tftp'],
    [['dhcp', 'tftp'], true, 'ipxe'],
    [['dhcp', 'tftp', 'ipxe'], true, 'kernel'],
    [['dhcp', 'tftp', 'ipxe', 'kernel'], true, 'config'],
    [['dhcp', 'tftp', 'ipxe', 'kernel'], false, 'done'],
    [['dhcp', 'tftp', 'ipxe', 'initrd'], true, 'config'],
    [['dhcp', 'tftp', 'ipxe', 'kernel', 'initrd', 'config'], true, 'done'],
    // An iPXE ROM fetches its script over HTTP without any TFTP: skipping a step is progress.
    [['dhcp', 'ipxe'], true, 'kernel'],
    // Out of order (signals raced): the highest step counts.
    [['kernel', 'dhcp'], true, 'config'],
    [['tftp'], false, 'ipxe'],
    // The checkpoint alone (the installed OS called back) ends the netboot.
    [['checkpoint'], true, 'done'],
    [['config'], true, 'done'],
  ];
  for (const [seen, hasConfig, next] of table) {
    const reached = Math.max(0, ...seen.map(rankOf));
    assert.equal(
      nextNetbootStep(reached, hasConfig),
      next,
      `${seen.join(',') || '(none)'} hasConfig=${hasConfig}`,
    );
  }
});
