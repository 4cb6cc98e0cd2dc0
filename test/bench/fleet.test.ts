// The fleet-scale benchmark (bench/fleet.ts): its rate series and charts, then a smoke run (a rollout of a few sim
// hosts on the dev server with a real `vaquero server` answering GET /hosts while it runs). Checks the result's
// shape and that every host completed, never how long anything took.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FLEET_SMOKE, rateSeries, runFleet } from '../../bench/fleet.ts';
import type { StatusSample } from '../../bench/fleet/run-one.ts';
import { asciiChart, niceStep, svgChart } from '../../bench/lib/plot.ts';
import { assertMeasured, assertWellFormed, benchContext } from './support/well-formed.ts';

const sample = (t: number, provisioned: number): StatusSample => ({
  t,
  provisioned,
  failed: 0,
  running: 0,
  queryMs: 1,
});

test('hosts per second over a trailing window of the rollout samples', () => {
  const samples = [0, 2, 4, 6, 8, 10, 12].map((t) => sample(t, t < 4 ? 0 : (t - 4) * 5));
  assert.deepEqual(rateSeries(samples, 4), [
    [2, 0],
    [4, 0],
    [6, 2.5],
    [8, 5],
    [10, 5],
    [12, 5],
  ]);
  // A window longer than the samples: the points that span at least half of it.
  assert.deepEqual(
    rateSeries(samples, 20).map(([t]) => t),
    [10, 12],
  );
});

test('charts: nice ticks, an SVG with one line per series, an ASCII chart of a series', () => {
  assert.equal(niceStep(100, 5), 20);
  assert.equal(niceStep(7, 6), 2);
  assert.equal(niceStep(0), 1);
  const a = {
    name: 'dev',
    points: [
      [0, 0],
      [10, 5],
      [20, 10],
    ] as [number, number][],
  };
  const b = {
    name: 'pg <x>',
    points: [
      [0, 0],
      [10, 2],
    ] as [number, number][],
  };
  const svg = svgChart({ title: 'rate', xLabel: 's', yLabel: 'hosts/s', series: [a, b] });
  assert.match(svg, /^<svg /);
  assert.equal(svg.match(/<polyline /g)?.length, 2);
  assert.match(svg, /pg &lt;x&gt;/);
  const text = asciiChart(a, { width: 20, height: 5, xLabel: 's' });
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, 1 + 5 + 2, text);
  assert.ok(
    lines.every((l) => l.length <= 40),
    text,
  );
  // The last column reaches the top (its mean is the largest), the first stays low.
  assert.match(lines[1]!, /#$/);
  assert.match(lines[5]!, /^\s+\d*\s*\|[ +#]/);
});

test('the fleet benchmark completes a rollout and measures GET /hosts while it runs', async () => {
  const ctx = benchContext('fleet');
  try {
    const r = await runFleet(FLEET_SMOKE, ctx);
    assertWellFormed(r, 'fleet', []);
    for (const metric of [
      'hosts provisioned',
      'apply → last host',
      'peak RSS, worker process',
      'peak RSS, Temporal server',
      'peak RSS, API server',
      'largest payload, any history',
      'largest rollout run',
      'largest host history (sampled)',
      'GET /hosts p99, during the run (worst window)',
    ])
      assertMeasured(r.rows, metric);
    const provisioned = r.rows.find((row) => row.metric === 'hosts provisioned')!;
    assert.equal(provisioned.vaquero.median, FLEET_SMOKE.hosts);
    assert.equal(
      r.notes.filter((n) => /cap|no result|provisioned|failed or timed out/.test(n)).length,
      0,
      r.notes.join('\n'),
    );
    assert.equal((r.details.charts as string[]).length, FLEET_SMOKE.backends.length);
  } finally {
    ctx.remove();
  }
});
