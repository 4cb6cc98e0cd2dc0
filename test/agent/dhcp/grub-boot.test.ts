// chooseBoot for a host whose open gate says its stage boots through GRUB (sot/grub-config.ts): UEFI x64 PXE
// firmware gets the signed shim over TFTP; every path that cannot reach GRUB gets no boot file and says why.
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
  files: { bios: 'undionly.kpxe', uefiX64: 'ipxe.efi' },
};

function grubHost(loader: 'grub' | undefined): DhcpHostRecord {
  const h = hostRecord(MAC, { open: true });
  h.netboot!.artifacts = {
    bootStage: 1,
    ipxe: '#!ipxe\n',
    kernel: 'http://10.77.1.1:8080/assets/linux',
    initrds: [],
    cmdline: 'quiet',
    ...(loader ? { loader, grub: 'linux (tftp,10.77.1.1)/assets/linux quiet\nboot\n' } : {}),
  };
  return h;
}

function choose(client: Omit<RequestSpec, 'type'>, host: DhcpHostRecord, config = CONFIG): BootDecision {
  const info = describeClient(request({ type: MessageType.Discover, mac: MAC, ...client }), MAC);
  return chooseBoot(info, host, config);
}

const PXE_EFI = { arch: 7, vendorClass: 'PXEClient:Arch:00007:UNDI:003000' };
const shim = (file: string): BootDecision => ({
  boot: true,
  kind: 'tftp',
  file,
  shown: file,
  siaddr: '10.77.1.1',
  ipxeNoProxyWait: false,
});
const UNSUPPORTED: BootDecision = { boot: false, reason: 'unsupported-loader' };

describe('chooseBoot, loader grub', () => {
  it('UEFI x64 PXE (arch 7 and 9) gets shim, by default shimx64.efi', () => {
    assert.deepEqual(choose(PXE_EFI, grubHost('grub')), shim('shimx64.efi'));
    assert.deepEqual(choose({ arch: 9, vendorClass: 'PXEClient' }, grubHost('grub')), shim('shimx64.efi'));
  });

  it('the configured shim name', () => {
    const config = { ...CONFIG, files: { ...CONFIG.files, shimX64: 'sb/shimx64.efi' } };
    assert.deepEqual(choose(PXE_EFI, grubHost('grub'), config), shim('sb/shimx64.efi'));
  });

  it('UEFI arm64 PXE (arch 11) gets the arm64 shim, by default shimaa64.efi, or the configured name', () => {
    const arm64 = { arch: 11, vendorClass: 'PXEClient:Arch:00011:UNDI:003000' };
    assert.deepEqual(choose(arm64, grubHost('grub')), shim('shimaa64.efi'));
    const config = { ...CONFIG, files: { ...CONFIG.files, shimArm64: 'sb/shimaa64.efi' } };
    assert.deepEqual(choose(arm64, grubHost('grub'), config), shim('sb/shimaa64.efi'));
    // With the default loader it is an iPXE host: no arm64 iPXE configured, no answer.
    assert.deepEqual(choose(arm64, grubHost(undefined)), { boot: false, reason: 'unsupported-arch' });
  });

  it('the same firmware gets iPXE when the stage does not say grub', () => {
    assert.deepEqual(choose(PXE_EFI, grubHost(undefined)), shim('ipxe.efi'));
  });

  it('paths that cannot reach GRUB get nothing, with the reason', () => {
    for (const client of [
      { ...PXE_EFI, userClass: 'iPXE' },
      { arch: 16, vendorClass: 'HTTPClient:Arch:00016' },
      { arch: 0, vendorClass: 'PXEClient:Arch:00000' },
      { arch: 19, vendorClass: 'HTTPClient:Arch:00019' },
      { arch: 11, vendorClass: 'PXEClient:Arch:00011', userClass: 'iPXE' },
    ])
      assert.deepEqual(choose(client, grubHost('grub')), UNSUPPORTED, JSON.stringify(client));
  });

  it('a closed gate still wins', () => {
    const h = grubHost('grub');
    h.netboot!.open = false;
    assert.deepEqual(choose(PXE_EFI, h), { boot: false, reason: 'gated' });
  });
});
