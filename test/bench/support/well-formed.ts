// What every benchmark result must look like, whatever the numbers: the tests check shape, never time.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BenchContext } from '../../../bench/lib/context.ts';
import type { BenchmarkResult, Row } from '../../../bench/lib/results.ts';

export function benchContext(name: string): BenchContext & { remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), `vq-bench-test-${name}-`));
  return { dir, log: () => undefined, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const isValue = (v: number | null): boolean => v === null || (Number.isFinite(v) && v >= 0);

/** Every row complete and consistent; `references` are the names every row must compare against. */
export function assertWellFormed(r: BenchmarkResult, name: string, references: string[]): void {
  assert.equal(r.name, name);
  assert.ok(r.rows.length > 0, 'no rows');
  assert.ok(Number.isFinite(r.durationS));
  assert.ok(Array.isArray(r.notes));
  for (const row of r.rows) {
    const where = `${row.case} / ${row.metric}`;
    assert.ok(row.benchmark && row.case && row.metric && row.unit, where);
    assert.ok(row.better === 'higher' || row.better === 'lower', where);
    assert.ok(isValue(row.vaquero.median) && row.vaquero.runs.every(isValue), where);
    if (row.benchmark !== name) continue; // e.g. the render rows of the HTTP benchmark have no reference
    assert.deepEqual(Object.keys(row.references).sort(), [...references].sort(), where);
    assert.deepEqual(Object.keys(row.ratios).sort(), [...references].sort(), where);
    for (const ref of references) {
      assert.equal(row.references[ref]!.runs.length, row.vaquero.runs.length, where);
      assert.ok(isValue(row.references[ref]!.median) && row.references[ref]!.runs.every(isValue), where);
    }
  }
  // The rows survive the trip to the JSON file unchanged (no NaN, Infinity or undefined in them).
  assert.deepEqual(JSON.parse(JSON.stringify(r.rows)), r.rows);
  JSON.stringify(r);
}

/** Rows whose values the smoke run must have produced on every side (a measurement happened). */
export function assertMeasured(rows: Row[], metric: string): void {
  const hits = rows.filter((r) => r.metric === metric);
  assert.ok(hits.length > 0, `no "${metric}" rows`);
  for (const row of hits) {
    assert.notEqual(row.vaquero.median, null, `vaquero: ${row.case} / ${metric}`);
    for (const [ref, m] of Object.entries(row.references))
      assert.notEqual(m.median, null, `${ref}: ${row.case} / ${metric}`);
  }
}
