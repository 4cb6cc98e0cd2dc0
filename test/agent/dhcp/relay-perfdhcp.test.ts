// Relayed requests under load (LAB.md §3): perfdhcp with -l acts as a relay agent (giaddr = its address, hops 1,
// replies expected unicast at giaddr:67). The agent only answers reservations, so the MACs perfdhcp uses come
// from a list (-M) and each has a reservation: no test-only pool mode in the server.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { VethPair } from '../../../testkit/netns.ts';
import { addAddress, createVethPair, requireRoot, runInNs } from '../../../testkit/netns.ts';
import type { AgentHandle } from './support/lab.ts';
import { labSubnet, scratch, sleep, startAgent, startCapture } from './support/lab.ts';

requireRoot();

const PREFIX = '10.77.6';
const CLIENTS = 200;
const macs = Array.from({ length: CLIENTS }, (_, i) => `52:54:00:66:00:${i.toString(16).padStart(2, '0')}`);

/** perfdhcp's summary lines, e.g. "sent packets: 250" under "***Statistics for: DISCOVER-OFFER***". */
function exchange(output: string, name: string): { sent: number; received: number; drops: number } {
  const at = output.indexOf(`Statistics for: ${name}`);
  assert.ok(at >= 0, `no ${name} statistics in:\n${output}`);
  const part = output.slice(at, at + 800);
  const num = (label: string): number => Number(new RegExp(`${label}: (\\d+)`).exec(part)?.[1] ?? NaN);
  return { sent: num('sent packets'), received: num('received packets'), drops: num('drops') };
}

describe('DHCP relayed requests (perfdhcp as the relay)', () => {
  let pair: VethPair;
  let agent: AgentHandle;
  const tmp = scratch();

  before(async () => {
    pair = createVethPair({ prefix: PREFIX });
    addAddress(pair.client, pair.clientIf, `${PREFIX}.2/24`); // the relay's own address: giaddr
    agent = await startAgent(pair.server, {
      mode: 'server',
      interfaces: [{ name: pair.serverIf, address: pair.serverIp, cidr: `${pair.serverIp}/24` }],
      subnets: [labSubnet(PREFIX)],
      reservations: macs.map((mac, i) => ({
        host: `load${i}`,
        mac,
        ipv4: `${PREFIX}.${50 + i}`,
        subnet: 'lab',
      })),
      open: [],
      boot: { httpUrl: `http://${PREFIX}.1:8080` },
    });
  });

  after(async () => {
    await agent?.stop();
    pair?.cleanup();
    tmp.remove();
  });

  it('answers every relayed DISCOVER and REQUEST, unicast to the relay, with no drops', async () => {
    const list = join(tmp.dir, 'macs.txt');
    writeFileSync(list, macs.join('\n') + '\n');
    const pcap = join(tmp.dir, 'relay.pcap');
    const capture = await startCapture(pair.server, pair.serverIf, pcap, 'udp port 67 or udp port 68');
    // 50 exchanges/s for 5 s: well inside what the lab's 2 cores sustain for server and perfdhcp together.
    const r = await runInNs(
      pair.client,
      'perfdhcp',
      ['-4', '-l', pair.clientIf, '-r', '50', '-p', '5', '-M', list],
      {
        timeoutMs: 30_000,
      },
    );
    const out = r.stdout + r.stderr;
    await sleep(300);
    await capture.stop();
    const dora = exchange(out, 'DISCOVER-OFFER');
    const rr = exchange(out, 'REQUEST-ACK');
    assert.ok(dora.sent >= 200, `sent ${dora.sent} DISCOVERs\n${out}`);
    assert.deepEqual([dora.drops, rr.drops], [0, 0], `${out}\n${JSON.stringify(await agent.stats())}`);
    assert.equal(dora.received, dora.sent);
    assert.equal(rr.received, rr.sent);
    assert.equal(r.code, 0, out);

    // On the wire: every reply from the agent went unicast to the relay's port 67, none was broadcast.
    const wire = (
      await runInNs(pair.server, 'tcpdump', ['-r', pcap, '-n', `src host ${PREFIX}.1`], { timeoutMs: 10_000 })
    ).stdout;
    const replies = wire.split('\n').filter((l) => l.includes(' > '));
    // tcpdump may miss a packet or two on a busy machine; what it did capture must all be unicast to the relay.
    assert.ok(replies.length >= 0.95 * (dora.received + rr.received), `${replies.length} replies captured`);
    for (const line of replies)
      assert.match(line, new RegExp(`${PREFIX}\\.1\\.67 > ${PREFIX}\\.2\\.67:`), line);

    const stats = await agent.stats();
    assert.ok(stats.offers >= dora.sent && stats.acks >= rr.sent, JSON.stringify(stats));
    assert.equal(
      stats.unknownMacs + stats.unroutable + stats.rateLimited + stats.sendErrors + stats.errors,
      0,
      JSON.stringify(stats),
    );
    const bound = await agent.bindings();
    assert.ok(bound.length > 100, `${bound.length} distinct clients bound`);
    for (const b of bound)
      assert.equal(b.ip, `${PREFIX}.${50 + macs.indexOf(b.mac)}`, `${b.mac} got its own reservation`);
  });
});
