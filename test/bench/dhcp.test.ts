// Smoke run of the DHCP benchmark (bench/dhcp.ts) with tiny parameters: agent and dnsmasq in a namespace,
// perfdhcp as a relay in another. Checks that it produces a complete result, never how fast anything was.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DHCP_SMOKE, runDhcp } from '../../bench/dhcp.ts';
import { requireRoot } from '../../testkit/netns.ts';
import { assertMeasured, assertWellFormed, benchContext } from './support/well-formed.ts';

requireRoot();

test('the DHCP benchmark measures the agent and dnsmasq and reports every row', async () => {
  const ctx = benchContext('dhcp');
  try {
    const r = await runDhcp(DHCP_SMOKE, ctx);
    assertWellFormed(r, 'dhcp', ['dnsmasq']);
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
  } finally {
    ctx.remove();
  }
});
