// ignore_dhcp with a real client (busybox udhcpc) in a namespace, in both modes: a NIC the SoT marks ignore_dhcp
// gets no answer even though the agent also holds a reservation and an open netboot gate for it, while a normal
// NIC on the same segment is answered.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { VethPair } from '../../../testkit/netns.ts';
import { createVethPair, flushAddresses, requireRoot, setLinkAddress } from '../../../testkit/netns.ts';
import type { AgentHandle } from './support/lab.ts';
import { labSubnet, runUdhcpc, scratch, startAgent } from './support/lab.ts';

requireRoot();

const NORMAL = '52:54:00:77:81:0a';
const IGNORED = '52:54:00:77:81:0b';
const UEFI_PXE = { vendorClass: 'PXEClient:Arch:00007:UNDI:003000', send: ['0x5d:0007'] };

for (const [mode, prefix] of [
  ['server', '10.77.81'],
  ['proxy', '10.77.82'],
] as const) {
  describe(`ignore_dhcp in ${mode} mode`, () => {
    let pair: VethPair;
    let agent: AgentHandle;
    const tmp = scratch();

    before(async () => {
      pair = createVethPair({ prefix });
      agent = await startAgent(pair.server, {
        mode,
        interfaces: [{ name: pair.serverIf, address: pair.serverIp, cidr: `${pair.serverIp}/24` }],
        subnets: [labSubnet(prefix)],
        reservations: [NORMAL, IGNORED].map((mac, i) => ({
          host: `node${i}`,
          mac,
          ...(mode === 'server' ? { ipv4: `${prefix}.${10 + i}` } : {}),
          subnet: 'lab',
          hostname: `node${i}`,
        })),
        ignoredMacs: [IGNORED],
        open: [NORMAL, IGNORED],
        boot: { httpUrl: `http://${prefix}.1:8080` },
        leaseSeconds: 600,
      });
    });

    after(async () => {
      await agent?.stop();
      pair?.cleanup();
      tmp.remove();
    });

    async function ask(mac: string, tag: string): Promise<Awaited<ReturnType<typeof runUdhcpc>>> {
      flushAddresses(pair.client, pair.clientIf);
      setLinkAddress(pair.client, pair.clientIf, mac);
      return runUdhcpc(pair.client, pair.clientIf, tmp.dir, { ...UEFI_PXE, tries: 2, tag });
    }

    it('the ignored NIC gets no answer; the normal one does', async () => {
      const ignored = await ask(IGNORED, 'ignored');
      const normal = await ask(NORMAL, 'normal');
      const stats = await agent.stats();
      const answered = (mac: string): string[] =>
        agent.events.filter((e) => e.mac === mac).map((e) => e.message);

      assert.deepEqual(answered(IGNORED), [], 'no answer of any kind to the ignored NIC');
      assert.equal(ignored.env, undefined, ignored.output);
      assert.ok(
        stats.ignoredInterfaces >= 1,
        `the agent counted the ignored DISCOVERs: ${JSON.stringify(stats)}`,
      );
      assert.ok(
        agent.logs.some((l) => l.includes(`${IGNORED} has ignore_dhcp`)),
        agent.logs.join('\n'),
      );
      if (mode === 'server') {
        assert.equal(normal.code, 0, normal.output);
        assert.equal(normal.env?.ip, `${prefix}.10`);
        assert.equal(normal.env?.boot_file, 'ipxe.efi');
        assert.deepEqual(answered(NORMAL), ['DHCPOFFER', 'DHCPACK']);
      } else {
        // A proxy gives no address, so udhcpc never binds: the proxy offer it was sent is the answer.
        assert.ok(answered(NORMAL).includes('proxy offer'), JSON.stringify(agent.events));
        assert.ok(stats.proxyOffers >= 1);
      }
    });
  });
}
