// The DHCP server's flood limits, through the real server in a namespace: one client looping is cut off at its
// per-client budget, a flood of DISCOVERs is cut off at the total budget, and a burst does not starve the
// clients that come just after it (the total budget refills as time passes instead of once per second).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { serializeDhcp } from '../../../agent/dhcp/codec.ts';
import { MessageType } from '../../../agent/dhcp/options.ts';
import type { VethPair } from '../../../testkit/netns.ts';
import { createVethPair, requireRoot } from '../../../testkit/netns.ts';
import type { AgentHandle, UdpPeer } from './support/lab.ts';
import { labSubnet, sleep, startAgent, startDhcpClientPeer } from './support/lab.ts';
import { request } from './support/fixtures.ts';

requireRoot();

const PREFIX = '10.77.12';
const LOOPING = '52:54:00:77:12:0a';
const LATE = Array.from({ length: 5 }, (_, i) => `52:54:00:77:12:${(0x20 + i).toString(16)}`);
const TOTAL = 100;
const PER_CLIENT = 5;

const discover = (mac: string, xid = 1): Buffer =>
  serializeDhcp(request({ type: MessageType.Discover, mac, xid, vendorClass: 'PXEClient' }));

describe('DHCP flood limits', () => {
  let pair: VethPair;
  let agent: AgentHandle;
  let peer: UdpPeer;

  before(async () => {
    pair = createVethPair({ prefix: PREFIX });
    agent = await startAgent(pair.server, {
      mode: 'server',
      interfaces: [{ name: pair.serverIf, address: pair.serverIp, cidr: `${pair.serverIp}/24` }],
      subnets: [labSubnet(PREFIX)],
      reservations: [LOOPING, ...LATE].map((mac, i) => ({
        host: `h${i}`,
        mac,
        ipv4: `${PREFIX}.${10 + i}`,
        subnet: 'lab',
      })),
      open: [],
      boot: { httpUrl: `http://${PREFIX}.1:8080` },
      limits: { maxPacketsPerSecond: TOTAL, maxPerClientPerSecond: PER_CLIENT },
    });
    peer = await startDhcpClientPeer(pair, PREFIX);
  });

  after(async () => {
    await peer?.stop();
    await agent?.stop();
    pair?.cleanup();
  });

  it('answers a looping client only up to its per-client budget', async () => {
    const before = await agent.stats();
    const r = await peer.send(
      'c',
      pair.serverIp,
      67,
      Array.from({ length: 20 }, (_, i) => discover(LOOPING, i)),
    );
    assert.equal(r.sent, 20);
    await sleep(300);
    const s = await agent.stats();
    assert.equal(s.received - before.received, 20);
    assert.equal(s.offers - before.offers, PER_CLIENT, JSON.stringify(s));
    assert.equal(s.rateLimited - before.rateLimited, 20 - PER_CLIENT);
  });

  it('caps a flood at the total budget, and serves the next clients a moment later', async () => {
    await sleep(1100); // a fresh second for the per-client window and a full total budget
    const before = await agent.stats();
    // Unknown MACs: the total is counted before any parsing, so a flood of strangers spends it too.
    const flood = Array.from({ length: 3 * TOTAL }, (_, i) =>
      discover(
        `02:99:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
      ),
    );
    // Paced at ~1 ms, so the kernel's socket buffer keeps every datagram and the server's budget alone decides.
    const t0 = Date.now();
    await peer.send('c', pair.serverIp, 67, flood, 1);
    const elapsed = Date.now() - t0;
    const afterFlood = await agent.stats();
    const refused = afterFlood.rateLimited - before.rateLimited;
    assert.equal(afterFlood.received - before.received, flood.length);
    // At most one second's budget at once, plus what came back while the flood was being sent.
    const admittedAtMost = TOTAL + Math.ceil((elapsed * TOTAL) / 1000) + 5;
    assert.ok(
      refused >= flood.length - admittedAtMost && refused <= flood.length - TOTAL,
      `refused ${refused} of ${flood.length} sent over ${elapsed} ms`,
    );
    assert.equal(afterFlood.unknownMacs - before.unknownMacs, flood.length - refused);

    // 200 ms later a fifth of the budget is back (a fixed one-second window would refuse these until it rolls).
    await sleep(200);
    await peer.send(
      'c',
      pair.serverIp,
      67,
      LATE.map((mac) => discover(mac, 7)),
      5,
    );
    await sleep(200);
    const s = await agent.stats();
    assert.equal(s.offers - afterFlood.offers, LATE.length, JSON.stringify(s));
    assert.equal(s.rateLimited - afterFlood.rateLimited, 0);
  });
});
