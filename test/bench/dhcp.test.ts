// Smoke run of the DHCP benchmark (bench/dhcp.ts) with tiny parameters: agent, dnsmasq and Kea in a namespace,
// perfdhcp as a relay in another. Checks that it produces a complete result, never how fast anything was.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DHCP_SMOKE, runDhcp } from '../../bench/dhcp.ts';
import { keaBenchConfig, packetCounters } from '../../bench/dhcp-kea.ts';
import type { BenchNet } from '../../bench/lib/lab.ts';
import { requireRoot } from '../../testkit/netns.ts';
import { assertMeasured, assertWellFormed, benchContext } from './support/well-formed.ts';

requireRoot();

test('the DHCP benchmark measures the agent, dnsmasq and Kea (single- and multi-threaded) and reports every row', async () => {
  const ctx = benchContext('dhcp');
  try {
    const r = await runDhcp(DHCP_SMOKE, ctx);
    assertWellFormed(r, 'dhcp', ['dnsmasq', 'kea', 'kea-mt']);
    assertMeasured(r.rows, 'rate');
    assertMeasured(r.rows, 'all leased');
    assertMeasured(r.rows, 'p50');
    const runs = r.details.runs as Record<
      string,
      { serverStats?: { services: { dhcp: Record<string, number> } } }[]
    >;
    // The agent answered as the reservations say: every DISCOVER an OFFER, nothing unknown or rate-limited.
    const stats = runs.vaquero![0]!.serverStats!.services.dhcp;
    assert.ok(stats.offers! > 0 && stats.acks! > 0, JSON.stringify(stats));
    assert.equal(stats.unknownMacs! + stats.unroutable! + stats.errors!, 0, JSON.stringify(stats));
    // Kea answered from the same reservations (its own counters, read from its control socket).
    for (const kea of ['kea', 'kea-mt']) {
      const k = runs[kea]![0]!.serverStats as unknown as Record<string, number>;
      assert.ok(k['pkt4-offer-sent']! > 0 && k['pkt4-ack-sent']! > 0, `${kea}: ${JSON.stringify(k)}`);
      assert.equal(k['pkt4-nak-sent'], 0, `${kea}: ${JSON.stringify(k)}`);
    }
  } finally {
    ctx.remove();
  }
});

test("Kea's benchmark config: the lab's base with the reservations, the lease file kept, no pool", () => {
  const spec = {
    dir: '/tmp/x',
    name: 'kea-0',
    net: { server: 'ns', serverIf: 'eth0', serverIp: '10.79.0.1' } as BenchNet,
    subnet: '10.79.0.0/16',
    reservations: [{ mac: '02:76:00:00:00:00', ip: '10.79.1.1' }],
    bootFile: 'undionly.kpxe',
    domain: 'bench.example',
    leaseSeconds: 3600,
  };
  const files = { leaseFile: '/tmp/x/l.csv', logFile: '/tmp/x/k.log', socket: '/tmp/x/k.sock' };
  type Cfg = { Dhcp4: Record<string, unknown> & { subnet4: Record<string, unknown>[] } };
  const one = (keaBenchConfig({ ...spec, threads: 1 }, files) as Cfg).Dhcp4;
  assert.deepEqual(one['lease-database'], {
    type: 'memfile',
    persist: true,
    name: '/tmp/x/l.csv',
    'lfc-interval': 3600,
  });
  assert.deepEqual(one['multi-threading'], { 'enable-multi-threading': false });
  const subnet = one.subnet4[0]!;
  assert.equal(subnet.pools, undefined);
  assert.deepEqual(subnet.reservations, [{ 'hw-address': '02:76:00:00:00:00', 'ip-address': '10.79.1.1' }]);
  assert.equal(subnet['boot-file-name'], 'undionly.kpxe');
  assert.equal(subnet['next-server'], '10.79.0.1');
  const mt = (keaBenchConfig({ ...spec, threads: 2 }, files) as Cfg).Dhcp4;
  assert.equal((mt['multi-threading'] as Record<string, unknown>)['thread-pool-size'], 2);
  assert.deepEqual(
    packetCounters({ result: 0, arguments: { 'pkt4-ack-sent': [[5, 't']], 'subnet[1].x': [[1, 't']] } }),
    { 'pkt4-ack-sent': 5 },
  );
});
