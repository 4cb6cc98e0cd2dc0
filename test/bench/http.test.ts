// Smoke run of the HTTP benchmark (bench/http.ts): the agent's HTTP service and nginx in a namespace, wrk in
// another, plus the in-process render rate. Checks the result's shape and that nothing failed, never speed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HTTP_SMOKE, runHttp } from '../../bench/http.ts';
import { requireRoot } from '../../testkit/netns.ts';
import { assertMeasured, assertWellFormed, benchContext } from './support/well-formed.ts';

requireRoot();

test('the HTTP benchmark measures the agent and nginx on files, scripts and configs', async () => {
  const ctx = benchContext('http');
  try {
    const r = await runHttp(HTTP_SMOKE, ctx);
    assertWellFormed(r, 'http', ['nginx']);
    assertMeasured(r.rows, 'requests');
    assert.deepEqual(r.notes, [], 'no socket errors or non-2xx answers');
    const render = r.rows.filter((row) => row.benchmark === 'render');
    assert.equal(render.length, 2);
    for (const row of render) assert.notEqual(row.vaquero.median, null, row.case);
    // Every iPXE script and config request of the agent became a boot event of its host.
    const results = r.details.results as {
      vaquero: { serverStats?: { recorder: { recorded: number; ungated: number } } }[];
    };
    const rec = results.vaquero[0]!.serverStats!.recorder;
    assert.ok(rec.recorded > 0, JSON.stringify(rec));
    assert.equal(rec.ungated, 0, JSON.stringify(rec));
  } finally {
    ctx.remove();
  }
});
