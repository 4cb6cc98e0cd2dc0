// chooseBoot for every architecture / client combination, the gate and the modes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BootConfig, BootDecision } from '../../../agent/dhcp/boot.ts';
import { chooseBoot } from '../../../agent/dhcp/boot.ts';
import { describeClient } from '../../../agent/dhcp/client-info.ts';
import type { DhcpHostRecord } from '../../../agent/dhcp/directory.ts';
import { MessageType } from '../../../agent/dhcp/options.ts';
import type { RequestSpec } from './support/fixtures.ts';
import { hostRecord, request } from './support/fixtures.ts';

const MAC = '52:54:00:77:01:02';
const CONFIG: BootConfig = {
  mode: 'server',
  tftpServer: '10.77.1.1',
  httpUrl: 'http://10.77.1.1:8080',
  httpBootUrl: 'http://10.77.1.1:8080/boot',
  files: { bios: 'undionly.kpxe', uefiX64: 'ipxe.efi', arm64: 'snp-arm64.efi' },
};
const OPEN = hostRecord(MAC, { open: true });
const SCRIPT = `http://10.77.1.1:8080/ipxe?mac=${MAC}`;

interface Row {
  name: string;
  client: Omit<RequestSpec, 'type'>;
  host?: DhcpHostRecord | 'unknown';
  mode?: BootConfig['mode'];
  want: BootDecision;
}

const tftp = (file: string): BootDecision => ({
  boot: true,
  kind: 'tftp',
  file,
  shown: file,
  siaddr: '10.77.1.1',
  ipxeNoProxyWait: false,
});
const http = (file: string): BootDecision => ({
  boot: true,
  kind: 'http',
  file: `http://10.77.1.1:8080/boot/${file}`,
  shown: `http://10.77.1.1:8080/boot/${file}`,
  siaddr: '10.77.1.1',
  vendorClass: 'HTTPClient',
  ipxeNoProxyWait: false,
});
const script = (noWait: boolean): BootDecision => ({
  boot: true,
  kind: 'ipxe-script',
  file: SCRIPT,
  shown: SCRIPT,
  siaddr: '10.77.1.1',
  ipxeNoProxyWait: noWait,
});

const PXE_BIOS = { arch: 0, vendorClass: 'PXEClient:Arch:00000:UNDI:002001' };
const PXE_EFI = { arch: 7, vendorClass: 'PXEClient:Arch:00007:UNDI:003000' };

const ROWS: Row[] = [
  { name: 'unknown host', client: PXE_BIOS, host: 'unknown', want: { boot: false, reason: 'unknown-host' } },
  {
    name: 'known host, no netboot entry',
    client: PXE_BIOS,
    host: hostRecord(MAC),
    want: { boot: false, reason: 'gated' },
  },
  {
    name: 'known host, gate closed',
    client: PXE_EFI,
    host: hostRecord(MAC, { open: false }),
    want: { boot: false, reason: 'gated' },
  },
  {
    name: 'gate closed beats iPXE',
    client: { userClass: 'iPXE' },
    host: hostRecord(MAC, { open: false }),
    want: { boot: false, reason: 'gated' },
  },
  { name: 'plain DHCP client (an installed OS)', client: {}, want: { boot: false, reason: 'not-netboot' } },
  { name: 'BIOS PXE (arch 0)', client: PXE_BIOS, want: tftp('undionly.kpxe') },
  { name: 'BIOS PXE without option 93', client: { vendorClass: 'PXEClient' }, want: tftp('undionly.kpxe') },
  {
    name: 'arch only in vendor class',
    client: { vendorClass: 'PXEClient:Arch:00007:UNDI:003000' },
    want: tftp('ipxe.efi'),
  },
  { name: 'UEFI x64 (arch 7)', client: PXE_EFI, want: tftp('ipxe.efi') },
  {
    name: 'UEFI x64 (arch 9)',
    client: { arch: 9, vendorClass: 'PXEClient:Arch:00009:UNDI:003000' },
    want: tftp('ipxe.efi'),
  },
  { name: 'UEFI x64, option 93 without vendor class', client: { arch: 7 }, want: tftp('ipxe.efi') },
  {
    name: 'UEFI arm64 (arch 11) gets the configured name',
    client: { arch: 11, vendorClass: 'PXEClient:Arch:00011:UNDI:003000' },
    want: tftp('snp-arm64.efi'),
  },
  {
    name: 'UEFI IA32 (arch 6) is unsupported',
    client: { arch: 6, vendorClass: 'PXEClient:Arch:00006:UNDI:003000' },
    want: { boot: false, reason: 'unsupported-arch' },
  },
  { name: 'iPXE on BIOS (user class)', client: { ...PXE_BIOS, userClass: 'iPXE' }, want: script(true) },
  { name: 'iPXE on UEFI (user class)', client: { ...PXE_EFI, userClass: 'iPXE' }, want: script(true) },
  { name: 'iPXE on arm64', client: { arch: 11, userClass: 'iPXE' }, want: script(true) },
  { name: 'iPXE known by option 175 only', client: { ...PXE_BIOS, ipxeOption: true }, want: script(true) },
  {
    name: 'iPXE in proxy mode: no 175.176',
    client: { ...PXE_EFI, userClass: 'iPXE' },
    mode: 'proxy',
    want: script(false),
  },
  {
    name: 'UEFI HTTP boot x64 (arch 16)',
    client: { arch: 16, vendorClass: 'HTTPClient:Arch:00016:UNDI:003000' },
    want: http('ipxe.efi'),
  },
  {
    name: 'UEFI HTTP boot arm64 (arch 19)',
    client: { arch: 19, vendorClass: 'HTTPClient:Arch:00019:UNDI:003000' },
    want: http('snp-arm64.efi'),
  },
  { name: 'HTTPClient without option 93', client: { vendorClass: 'HTTPClient' }, want: http('ipxe.efi') },
  { name: 'HTTP arch without HTTPClient class', client: { arch: 16 }, want: http('ipxe.efi') },
  {
    name: 'HTTPClient claiming BIOS is unsupported',
    client: { arch: 0, vendorClass: 'HTTPClient:Arch:00000' },
    want: { boot: false, reason: 'unsupported-arch' },
  },
  { name: 'BIOS PXE in proxy mode: same file', client: PXE_BIOS, mode: 'proxy', want: tftp('undionly.kpxe') },
];

describe('chooseBoot', () => {
  for (const row of ROWS) {
    it(row.name, () => {
      const client = describeClient(request({ type: MessageType.Discover, mac: MAC, ...row.client }), MAC);
      const host = row.host === 'unknown' ? undefined : (row.host ?? OPEN);
      assert.deepEqual(chooseBoot(client, host, { ...CONFIG, mode: row.mode ?? 'server' }), row.want);
    });
  }

  it('uses the configured next server', () => {
    const client = describeClient(request({ type: MessageType.Discover, ...PXE_BIOS }), MAC);
    const d = chooseBoot(client, OPEN, { ...CONFIG, tftpServer: '10.77.1.69' });
    assert.ok(d.boot);
    assert.equal(d.siaddr, '10.77.1.69');
  });

  it("iPXE's script URL carries the host's boot credential; what events show does not", () => {
    const client = describeClient(
      request({ type: MessageType.Discover, ...PXE_EFI, userClass: 'iPXE' }),
      MAC,
    );
    const seen: DhcpHostRecord[] = [];
    const credential = (h: DhcpHostRecord) => (seen.push(h), h.netboot?.open ? 'cred-1' : undefined);
    const d = chooseBoot(client, OPEN, { ...CONFIG, credential });
    assert.ok(d.boot);
    assert.equal(d.file, `${SCRIPT}&boot=cred-1`);
    assert.equal(d.shown, SCRIPT);
    assert.deepEqual(seen, [OPEN]);
    // The ROM's first-stage file is no URL of ours: nothing to add.
    const rom = chooseBoot(describeClient(request({ type: MessageType.Discover, ...PXE_BIOS }), MAC), OPEN, {
      ...CONFIG,
      credential,
    });
    assert.ok(rom.boot);
    assert.equal(rom.file, 'undionly.kpxe');
  });
});
