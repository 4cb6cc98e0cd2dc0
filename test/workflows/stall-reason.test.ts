// What a stalled netboot step adds to its message, from the attempt's timeline as the host workflow writes it
// (`<kind> from <source>: <detail>`, details as the agent records them).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TimelineEntry } from '../../domain/host.ts';
import { describeGot, recordedEvent, stallDetail } from '../../workflows/stall-reason.ts';

const ATTEMPT = 10_000;
let clock = ATTEMPT;
const entry = (kind: string, message: string, at = (clock += 100)): TimelineEntry => ({
  at,
  bootStage: 1,
  stage: 'netboot/dhcp',
  kind,
  message,
});
const ev = (message: string, at?: number) => entry('event', message, at);

/** Boot events of the negative Secure Boot case: offered ipxe.efi, fetched whole, nothing after. */
const unsignedLoader = (): TimelineEntry[] => [
  entry('stage', 'power: set next boot to network and cycle (attempt 1/1)', ATTEMPT),
  ev('dhcp from lab-agent: DHCPOFFER 10.77.57.12 ipxe.efi'),
  ev('dhcp from lab-agent: DHCPACK 10.77.57.12 ipxe.efi'),
  entry('stage', 'netboot/tftp'),
  ev('tftp from lab-agent: TFTP ipxe.efi sent (850528 bytes)'),
  entry('stage', 'netboot/ipxe'),
];

test('a whole first program and nothing after it: its firmware did not run it', () => {
  assert.equal(
    stallDetail({ step: 'ipxe', timeline: unsignedLoader(), since: ATTEMPT }),
    '; the host got tftp ipxe.efi (831 KB, complete) and asked for nothing after it: its firmware did not run it (Secure Boot refuses unsigned loaders)',
  );
});

test('events of an earlier attempt do not count', () => {
  const timeline = [
    ev('dhcp from lab-agent: DHCPACK 10.77.57.12 ipxe.efi', ATTEMPT - 5000),
    ev('tftp from lab-agent: TFTP ipxe.efi sent (850528 bytes)', ATTEMPT - 4000),
    entry('stage', 'power: set next boot to network and cycle (attempt 2/2)', ATTEMPT),
  ];
  assert.equal(stallDetail({ step: 'dhcp', timeline, since: ATTEMPT }), '');
  assert.equal(stallDetail({ step: 'dhcp', timeline: [], since: ATTEMPT }), '');
});

test('iPXE ran (it asked DHCP again): what it got last, with no guess at the firmware', () => {
  const timeline = [
    ...unsignedLoader(),
    ev('dhcp from lab-agent: DHCPACK 10.77.57.12 http://10.77.57.1:8080/ipxe?mac=52:54:00:77:57:0c'),
  ];
  assert.equal(
    stallDetail({ step: 'ipxe', timeline, since: ATTEMPT }),
    '; the host got dhcp DHCPACK 10.77.57.12 http://10.77.57.1:8080/ipxe?mac=52:54:00:77:57:0c and asked for nothing after it',
  );
});

test('a refusal is named as before; the host asking for nothing after a refusal adds nothing', () => {
  const timeline = [
    ev('dhcp from agent-a: DHCPACK (sim)'),
    ev('refused from agent-a: tftp ipxe-arm64.efi: file not found'),
  ];
  assert.equal(
    stallDetail({ step: 'tftp', timeline, since: ATTEMPT, refused: 'tftp ipxe-arm64.efi: file not found' }),
    '; the agent refused tftp ipxe-arm64.efi: file not found',
  );
});

test("shim fetched GRUB and nothing followed: what it got last, not the firmware's refusal", () => {
  const timeline = [
    ev('dhcp from lab-agent: DHCPACK 10.77.57.11 shimx64.efi'),
    ev('tftp from lab-agent: TFTP shimx64.efi sent (955384 bytes)'),
    ev('refused from lab-agent: tftp shim_certificate_0.efi: file not found'),
    ev('tftp from lab-agent: TFTP grubx64.efi sent (1684480 bytes)'),
  ];
  assert.equal(
    stallDetail({
      step: 'ipxe',
      timeline,
      since: ATTEMPT,
      refused: 'tftp shim_certificate_0.efi: file not found',
    }),
    '; the agent refused tftp shim_certificate_0.efi: file not found; the host got tftp grubx64.efi (1645 KB, complete) and asked for nothing after it',
  );
});

test('UEFI HTTP boot: the GET of its first program, whose end the agent does not see', () => {
  const timeline = [
    ev('dhcp from lab-agent: DHCPACK 10.77.57.10 http://10.77.57.1:8080/boot/ipxe.efi'),
    ev('tftp from lab-agent: HTTP boot ipxe.efi'),
  ];
  assert.equal(
    stallDetail({ step: 'ipxe', timeline, since: ATTEMPT }),
    '; the host got http ipxe.efi and asked for nothing after it: its firmware did not run it (Secure Boot refuses unsigned loaders)',
  );
});

test('installer log summaries and other timeline entries are not what the host got', () => {
  const timeline = [
    ev('kernel from lab-agent: /assets/linux'),
    ev('log from lab-agent: 3 lines'),
    entry('timeout', 'no initrd within 60s'),
  ];
  assert.equal(
    stallDetail({ step: 'kernel', timeline, since: ATTEMPT }),
    '; the host got kernel /assets/linux and asked for nothing after it',
  );
});

test('timeline entries parse back into events; others do not', () => {
  assert.deepEqual(recordedEvent(ev('tftp from lab-agent: TFTP a: b sent (1 bytes)')), {
    kind: 'tftp',
    source: 'lab-agent',
    detail: 'TFTP a: b sent (1 bytes)',
  });
  assert.deepEqual(recordedEvent(ev('checkpoint from sim')), {
    kind: 'checkpoint',
    source: 'sim',
    detail: '',
  });
  assert.equal(recordedEvent(entry('stage', 'dhcp from x: y')), undefined);
  assert.equal(
    describeGot({ kind: 'tftp', source: 's', detail: 'TFTP tiny sent (10 bytes)' }),
    'tftp tiny (1 KB, complete)',
  );
});
