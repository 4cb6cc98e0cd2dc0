// UEFI arm64 PXE clients (option 93 = 11) against the agent's DHCP server in a namespace, with busybox udhcpc
// sending what an arm64 EDK2 firmware sends (vendor class PXEClient:Arch:00011, option 93): a host whose stage
// boots through GRUB is offered Debian's signed arm64 shim over TFTP (shimaa64.efi, next server the agent); a host
// with the default loader (iPXE) and no boot_files.arm64 gets its address and no boot file, since there is no
// arm64 iPXE to name; the arm64 HTTP boot (arch 19) of a GRUB host gets no boot file either (the signed GRUB has
// no HTTP).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { VethPair } from '../../../testkit/netns.ts';
import { createVethPair, requireRoot } from '../../../testkit/netns.ts';
import type { AgentHandle } from './support/lab.ts';
import { asClient, runUdhcpc, scratch, startServerOnPair } from './support/lab.ts';

requireRoot();

const PREFIX = '10.77.64';
const MAC = {
  grub: '52:54:00:77:64:0a',
  ipxe: '52:54:00:77:64:0b',
  http: '52:54:00:77:64:0c',
};
const IP: Record<string, string> = {
  [MAC.grub]: `${PREFIX}.10`,
  [MAC.ipxe]: `${PREFIX}.11`,
  [MAC.http]: `${PREFIX}.12`,
};
const ARM64_PXE = { vendorClass: 'PXEClient:Arch:00011:UNDI:003000', send: ['0x5d:000b'], request: [67] };

describe('DHCP answers to UEFI arm64 clients (real udhcpc)', { timeout: 120_000 }, () => {
  let pair: VethPair;
  let agent: AgentHandle;
  const tmp = scratch();

  before(async () => {
    pair = createVethPair({ prefix: PREFIX });
    agent = await startServerOnPair(pair, {
      prefix: PREFIX,
      reserved: IP,
      hostPrefix: 'arm',
      open: Object.values(MAC),
      grub: [MAC.grub, MAC.http],
      boot: { httpUrl: `http://${PREFIX}.1:8080` },
      leaseSeconds: 600,
    });
  });

  after(async () => {
    await agent?.stop();
    pair?.cleanup();
    tmp.remove();
  });

  const useMac = (mac: string) => asClient(pair, mac);

  it('a GRUB host booting arm64 PXE is offered the arm64 shim by TFTP from the agent', async () => {
    useMac(MAC.grub);
    const r = await runUdhcpc(pair.client, pair.clientIf, tmp.dir, { ...ARM64_PXE, tag: 'grub' });
    assert.equal(r.code, 0, r.output);
    assert.equal(r.env?.ip, IP[MAC.grub]);
    assert.equal(r.env?.siaddr, `${PREFIX}.1`);
    assert.equal(r.env?.boot_file, 'shimaa64.efi');
    assert.equal(r.env?.bootfile, 'shimaa64.efi', 'option 67, because udhcpc asked for it');
    const ack = agent.events.find((e) => e.mac === MAC.grub && e.message === 'DHCPACK');
    assert.equal(ack?.detail, `DHCPACK ${IP[MAC.grub]} shimaa64.efi`);
  });

  it('an iPXE host booting arm64 PXE gets its address and no boot file (no arm64 iPXE configured)', async () => {
    useMac(MAC.ipxe);
    const r = await runUdhcpc(pair.client, pair.clientIf, tmp.dir, { ...ARM64_PXE, tag: 'ipxe' });
    assert.equal(r.code, 0, r.output);
    assert.equal(r.env?.ip, IP[MAC.ipxe]);
    assert.equal(r.env?.boot_file, undefined);
    assert.equal(r.env?.bootfile, undefined);
  });

  it('a GRUB host booting arm64 HTTP boot gets no boot file: the signed GRUB has no HTTP', async () => {
    useMac(MAC.http);
    const r = await runUdhcpc(pair.client, pair.clientIf, tmp.dir, {
      vendorClass: 'HTTPClient:Arch:00019:UNDI:003000',
      send: ['0x5d:0013'],
      request: [67],
      tag: 'http',
    });
    assert.equal(r.code, 0, r.output);
    assert.equal(r.env?.ip, IP[MAC.http]);
    assert.equal(r.env?.bootfile, undefined);
  });
});
