// Server mode against real DHCP clients (LAB.md §2): busybox udhcpc, ISC dhclient and dhcpcd each get their
// reservation and the subnet's options; PXE, iPXE and gated hosts get the right boot answer; unknown MACs get
// nothing. Each client's own view (script environment, lease file, `ip addr`) is what the tests check.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { VethPair } from '../../../testkit/netns.ts';
import { createVethPair, requireRoot } from '../../../testkit/netns.ts';
import type { AgentHandle } from './support/lab.ts';
import {
  addressesOf,
  asClient,
  runDhclient,
  runDhcpcd,
  runUdhcpc,
  scratch,
  startServerOnPair,
} from './support/lab.ts';

requireRoot();

const PREFIX = '10.77.5';
const MAC = {
  uefi: '52:54:00:77:05:0a',
  gated: '52:54:00:77:05:0b',
  ipxe: '52:54:00:77:05:0c',
  dhclient: '52:54:00:77:05:0d',
  dhcpcd: '52:54:00:77:05:0e',
  unknown: '52:54:00:77:05:ff',
};
const IP: Record<string, string> = {
  [MAC.uefi]: `${PREFIX}.10`,
  [MAC.gated]: `${PREFIX}.11`,
  [MAC.ipxe]: `${PREFIX}.12`,
  [MAC.dhclient]: `${PREFIX}.13`,
  [MAC.dhcpcd]: `${PREFIX}.14`,
};
const UEFI_PXE = { vendorClass: 'PXEClient:Arch:00007:UNDI:003000', send: ['0x5d:0007'] };
const hex = (s: string): string => Buffer.from(s).toString('hex');

describe('DHCP server mode with real clients', () => {
  let pair: VethPair;
  let agent: AgentHandle;
  const tmp = scratch();

  before(async () => {
    pair = createVethPair({ prefix: PREFIX });
    agent = await startServerOnPair(pair, {
      prefix: PREFIX,
      reserved: IP,
      hostPrefix: 'node',
      open: [MAC.uefi, MAC.ipxe],
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

  it('udhcpc (as a UEFI PXE client) gets its reservation, the subnet options and ipxe.efi', async () => {
    useMac(MAC.uefi);
    const r = await runUdhcpc(pair.client, pair.clientIf, tmp.dir, { ...UEFI_PXE, request: [224, 67] });
    assert.equal(r.code, 0, r.output);
    const env = r.env!;
    assert.equal(env.ip, `${PREFIX}.10`);
    assert.equal(env.mask, '24');
    assert.equal(env.router, `${PREFIX}.1`);
    assert.equal(env.dns, `${PREFIX}.53 ${PREFIX}.54`);
    assert.equal(env.domain, 'lab.example');
    assert.equal(env.ntpsrv, `${PREFIX}.123`);
    assert.equal(env.hostname, 'node0');
    assert.equal(env.lease, '600');
    assert.equal(env.serverid, `${PREFIX}.1`);
    assert.equal(env.opt224, hex('vaquero-test'), 'the subnet’s custom dhcp_option');
    assert.equal(env.siaddr, `${PREFIX}.1`);
    assert.equal(env.boot_file, 'ipxe.efi');
    assert.equal(env.bootfile, 'ipxe.efi', 'option 67, because udhcpc asked for it');
    assert.deepEqual(await addressesOf(pair.client, pair.clientIf), [`${PREFIX}.10/24`]);

    const ack = agent.events.find((e) => e.mac === MAC.uefi && e.message === 'DHCPACK');
    assert.equal(ack?.detail, `DHCPACK ${PREFIX}.10 ipxe.efi`);
    assert.equal(ack?.host, 'node0');
    const binding = (await agent.bindings()).find((b) => b.ip === `${PREFIX}.10`);
    assert.equal(binding?.mac, MAC.uefi);
  });

  it('dhclient gets its reservation and options (lease file)', async () => {
    useMac(MAC.dhclient);
    const lease = await runDhclient(pair.client, pair.clientIf, tmp.dir);
    assert.match(lease, new RegExp(`fixed-address ${PREFIX}\\.13;`));
    assert.match(lease, new RegExp(`option routers ${PREFIX}\\.1;`));
    assert.match(lease, new RegExp(`option domain-name-servers ${PREFIX}\\.53,${PREFIX}\\.54;`));
    assert.match(lease, /option domain-name "lab\.example";/);
    assert.match(lease, /option vaq-test "vaquero-test";/);
    assert.match(lease, /option dhcp-lease-time 600;/);
    assert.match(lease, new RegExp(`option dhcp-server-identifier ${PREFIX}\\.1;`));
    assert.doesNotMatch(lease, /filename/, 'a plain OS client gets no boot file');
    assert.deepEqual(await addressesOf(pair.client, pair.clientIf), [`${PREFIX}.13/24`]);
  });

  it('dhcpcd gets its reservation and options (hook variables)', async () => {
    useMac(MAC.dhcpcd);
    const r = await runDhcpcd(pair.client, pair.clientIf, tmp.dir);
    assert.equal(r.code, 0, r.output);
    const v = r.vars!;
    assert.equal(v.new_ip_address, `${PREFIX}.14`);
    assert.equal(v.new_subnet_mask, '255.255.255.0');
    assert.equal(v.new_routers, `${PREFIX}.1`);
    assert.equal(v.new_domain_name_servers, `${PREFIX}.53 ${PREFIX}.54`);
    assert.equal(v.new_domain_name, 'lab.example');
    assert.equal(v.new_vaq_test, 'vaquero-test');
    assert.equal(v.new_dhcp_lease_time, '600');
    assert.deepEqual(await addressesOf(pair.client, pair.clientIf), [`${PREFIX}.14/24`]);
  });

  it('iPXE (user class) gets the HTTP URL of its script and 175.176=1', async () => {
    useMac(MAC.ipxe);
    const r = await runUdhcpc(pair.client, pair.clientIf, tmp.dir, {
      ...UEFI_PXE,
      send: [...UEFI_PXE.send, `0x4d:${hex('iPXE')}`],
      request: [175],
    });
    assert.equal(r.code, 0, r.output);
    assert.equal(r.env?.ip, `${PREFIX}.12`);
    assert.equal(r.env?.boot_file, `http://${PREFIX}.1:8080/ipxe?mac=${MAC.ipxe}`);
    assert.equal(r.env?.opt175, 'b00101');
  });

  it('a known host whose netboot gate is closed gets its address but no boot file', async () => {
    const before = (await agent.stats()).gated;
    useMac(MAC.gated);
    const r = await runUdhcpc(pair.client, pair.clientIf, tmp.dir, { ...UEFI_PXE, request: [67, 175] });
    assert.equal(r.code, 0, r.output);
    assert.equal(r.env?.ip, `${PREFIX}.11`);
    for (const key of ['boot_file', 'bootfile', 'siaddr', 'opt175'])
      assert.equal(r.env?.[key], undefined, key);
    assert.ok((await agent.stats()).gated >= before + 2, 'offer and ack both counted as gated');
  });

  it('an unknown MAC gets no answer, and is counted', async () => {
    const before = await agent.stats();
    useMac(MAC.unknown);
    const r = await runUdhcpc(pair.client, pair.clientIf, tmp.dir, { ...UEFI_PXE, tries: 2 });
    assert.notEqual(r.code, 0, 'udhcpc -n gives up without a lease');
    assert.equal(r.env, undefined);
    assert.deepEqual(await addressesOf(pair.client, pair.clientIf), []);
    const now = await agent.stats();
    assert.ok(
      now.unknownMacs >= before.unknownMacs + 2,
      `unknownMacs ${before.unknownMacs} → ${now.unknownMacs}`,
    );
    assert.equal(now.offers, before.offers);
    assert.equal(
      agent.events.some((e) => e.mac === MAC.unknown),
      false,
    );
    assert.equal(now.errors + now.sendErrors + now.malformed, 0);
  });
});
