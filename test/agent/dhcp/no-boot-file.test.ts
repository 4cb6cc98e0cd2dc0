// The sentence a host's timeline gets when its gate is open and the agent has no boot file for its firmware: one
// per firmware path, and none for reasons that are not the agent's to explain.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClientInfo } from '../../../agent/dhcp/client-info.ts';
import { explainNoBootFile, firmwareName } from '../../../agent/dhcp/no-boot-file.ts';

const base: ClientInfo = {
  mac: '52:54:00:00:00:01',
  userClasses: [],
  ipxe: false,
  pxeClient: true,
  httpClient: false,
  netboot: true,
};
const c = (x: Partial<ClientInfo>): ClientInfo => ({ ...base, ...x });

test('firmware names', () => {
  assert.equal(firmwareName(c({})), 'BIOS PXE (arch 0)');
  assert.equal(firmwareName(c({ arch: 9 })), 'UEFI x64 PXE (arch 9)');
  assert.equal(firmwareName(c({ arch: 11 })), 'UEFI arm64 PXE (arch 11)');
  assert.equal(firmwareName(c({ arch: 19, httpClient: true })), 'UEFI arm64 HTTP boot (arch 19)');
  assert.equal(firmwareName(c({ arch: 16 })), 'UEFI x64 HTTP boot (arch 16)');
  assert.equal(firmwareName(c({ arch: 7, ipxe: true })), 'iPXE');
  assert.equal(firmwareName(c({ arch: 25 })), 'PXE arch 25');
});

test('no file for the architecture names the boot_files field to set', () => {
  const no = { boot: false, reason: 'unsupported-arch' } as const;
  assert.equal(
    explainNoBootFile(no, c({ arch: 11 })),
    'no boot file for UEFI arm64 PXE (arch 11): boot_files.arm64 is not set',
  );
  assert.equal(
    explainNoBootFile(no, c({ arch: 19, httpClient: true })),
    'no boot file for UEFI arm64 HTTP boot (arch 19): boot_files.arm64 is not set',
  );
  assert.equal(
    explainNoBootFile(no, c({ arch: 25 })),
    'no boot file for PXE arch 25: no boot file serves this architecture',
  );
});

test('a GRUB stage on a path that cannot reach GRUB says what stops it', () => {
  const no = { boot: false, reason: 'unsupported-loader' } as const;
  assert.match(explainNoBootFile(no, c({})) ?? '', /BIOS PXE \(arch 0\): .*GRUB, and BIOS has no shim$/);
  assert.match(explainNoBootFile(no, c({ arch: 16, httpClient: true })) ?? '', /signed GRUB has no HTTP$/);
  assert.match(explainNoBootFile(no, c({ arch: 7, ipxe: true })) ?? '', /^no boot file for iPXE: /);
});

test('nothing to explain: a boot, an unknown host, a closed gate, a client that does not netboot', () => {
  for (const reason of ['unknown-host', 'gated', 'not-netboot'] as const)
    assert.equal(explainNoBootFile({ boot: false, reason }, c({ arch: 11 })), undefined, reason);
  assert.equal(
    explainNoBootFile(
      {
        boot: true,
        kind: 'tftp',
        file: 'ipxe.efi',
        shown: 'ipxe.efi',
        siaddr: '10.0.0.1',
        ipxeNoProxyWait: false,
      },
      c({ arch: 7 }),
    ),
    undefined,
  );
});
