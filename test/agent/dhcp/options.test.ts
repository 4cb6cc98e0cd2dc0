import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AgentDhcpOption } from '../../../domain/site-model.ts';
import {
  decodeSubOptions,
  encodeSiteOption,
  encodeSubOptions,
  getClientArchs,
  getClientNdi,
  getIpxeOptions,
  getRelayAgentInfo,
  getText,
  getUserClasses,
  IpxeOpt,
  MessageType,
  Opt,
} from '../../../agent/dhcp/options.ts';
import { describeClient } from '../../../agent/dhcp/client-info.ts';
import { request } from './support/fixtures.ts';

const hex = (b: Buffer | undefined): string | undefined => b?.toString('hex');

describe('DHCP options', () => {
  it('reads iPXE bare user class and RFC 3004 framed user classes', () => {
    assert.deepEqual(getUserClasses(request({ type: 1, userClass: 'iPXE' })), ['iPXE']);
    const framed = request({ type: 1, extra: [[Opt.UserClass, Buffer.from('\x04iPXE\x03abc', 'latin1')]] });
    assert.deepEqual(getUserClasses(framed), ['iPXE', 'abc']);
    assert.deepEqual(getUserClasses(request({ type: 1 })), []);
  });

  it('reads option 93 as a list and rejects odd lengths', () => {
    const two = request({ type: 1, extra: [[Opt.ClientArch, Buffer.from([0, 7, 0, 0])]] });
    assert.deepEqual(getClientArchs(two), [7, 0]);
    assert.deepEqual(getClientArchs(request({ type: 1, extra: [[Opt.ClientArch, Buffer.from([0])]] })), []);
  });

  it('strips trailing NULs from text options', () => {
    const p = request({ type: 1, extra: [[Opt.VendorClass, Buffer.from('PXEClient\0\0', 'latin1')]] });
    assert.equal(getText(p, Opt.VendorClass), 'PXEClient');
  });

  it('encodes iPXE 175.176=1 as b0 01 01 and decodes sub-options back', () => {
    const enc = encodeSubOptions([[IpxeOpt.NoPxeDhcp, Buffer.from([1])]]);
    assert.equal(enc.toString('hex'), 'b00101');
    assert.deepEqual(
      decodeSubOptions(Buffer.from([1, 2, 0xaa, 0xbb, 0, 2, 1, 0xcc, 255, 9]))?.get(2),
      Buffer.from([0xcc]),
    );
    assert.equal(decodeSubOptions(Buffer.from([1, 5, 0xaa])), undefined);
    assert.equal(decodeSubOptions(Buffer.from([1])), undefined);
  });

  it('encodes every SoT dhcp_options type', () => {
    const cases: Array<[AgentDhcpOption, string]> = [
      [{ code: 224, type: 'string', value: 'hi' }, '6869'],
      [{ code: 150, type: 'ip', value: '10.77.1.1' }, '0a4d0101'],
      [{ code: 151, type: 'ips', value: ['10.0.0.1', '10.0.0.2'] }, '0a0000010a000002'],
      [{ code: 152, type: 'u8', value: 255 }, 'ff'],
      [{ code: 153, type: 'u16', value: 1500 }, '05dc'],
      [{ code: 154, type: 'u32', value: 4294967295 }, 'ffffffff'],
      [{ code: 19, type: 'bool', value: true }, '01'],
      [{ code: 20, type: 'bool', value: false }, '00'],
      [{ code: 43, type: 'hex', value: '0601 08FF'.replace(' ', '') }, '060108ff'],
    ];
    for (const [opt, want] of cases) assert.equal(hex(encodeSiteOption(opt).value), want, `${opt.type}`);
  });

  it('reports SoT options that do not fit their type instead of sending them', () => {
    const bad: AgentDhcpOption[] = [
      { code: 224, type: 'string', value: 5 },
      { code: 150, type: 'ip', value: '10.0.0' },
      { code: 151, type: 'ips', value: [] },
      { code: 152, type: 'u8', value: 256 },
      { code: 153, type: 'u16', value: -1 },
      { code: 154, type: 'u32', value: 1.5 },
      { code: 19, type: 'bool', value: 'yes' },
      { code: 43, type: 'hex', value: 'abc' },
      { code: 255, type: 'u8', value: 1 },
    ];
    for (const opt of bad) {
      const enc = encodeSiteOption(opt);
      assert.equal(enc.value, undefined, JSON.stringify(opt));
      assert.match(enc.error ?? '', new RegExp(`option ${opt.code}`));
    }
  });

  it('describes a client from its options', () => {
    const edk2 = describeClient(
      request({ type: MessageType.Discover, arch: 7, vendorClass: 'PXEClient:Arch:00007:UNDI:003000' }),
      'aa:bb:cc:dd:ee:ff',
    );
    assert.equal(edk2.arch, 7);
    assert.equal(edk2.pxeClient, true);
    assert.equal(edk2.ipxe, false);
    assert.equal(edk2.netboot, true);
    const vcOnly = describeClient(
      request({ type: 1, vendorClass: 'HTTPClient:Arch:00016:UNDI:003000' }),
      'x',
    );
    assert.equal(vcOnly.arch, 16);
    assert.equal(vcOnly.httpClient, true);
    assert.equal(describeClient(request({ type: 1, ipxeOption: true }), 'x').ipxe, true);
    assert.equal(describeClient(request({ type: 1 }), 'x').netboot, false);
  });
});

describe('DHCP option decoders for logs and relays', () => {
  it('reads option 94, option 82 sub-options and option 175 sub-options', () => {
    const p = request({
      type: 1,
      extra: [
        [Opt.ClientNdi, Buffer.from([1, 3, 16])],
        [Opt.RelayAgentInfo, Buffer.from([1, 3, 0x65, 0x74, 0x30, 2, 1, 9])],
        [Opt.Ipxe, Buffer.from([0x13, 1, 1, 0x11, 1, 1])],
      ],
    });
    assert.deepEqual(getClientNdi(p), { type: 1, major: 3, minor: 16 });
    assert.equal(getRelayAgentInfo(p)?.get(1)?.toString(), 'et0');
    assert.deepEqual(getRelayAgentInfo(p)?.get(2), Buffer.from([9]));
    assert.deepEqual([...(getIpxeOptions(p)?.keys() ?? [])], [0x13, 0x11]);
    const bad = request({ type: 1, extra: [[Opt.RelayAgentInfo, Buffer.from([1, 9, 0])]] });
    assert.equal(getRelayAgentInfo(bad), undefined);
    assert.equal(getClientNdi(request({ type: 1 })), undefined);
  });

  it('refuses SoT options that would override the protocol’s own', () => {
    for (const code of [50, 51, 52, 53, 54, 55, 57, 58, 59, 61, 82]) {
      assert.match(
        encodeSiteOption({ code, type: 'u8', value: 1 }).error ?? '',
        /set by the DHCP protocol/,
        `${code}`,
      );
    }
    assert.ok(
      encodeSiteOption({ code: 3, type: 'ip', value: '10.0.0.1' }).value,
      'a router override is fine',
    );
  });
});
