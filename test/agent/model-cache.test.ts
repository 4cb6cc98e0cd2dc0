// The model cache: a late close of an older run keeps a newer run's gate; gates survive a restart.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import path from 'node:path';
import { ModelCache } from '../../agent/model-cache.ts';
import { MAC, setup } from './http/support/agent-http.ts';

test("a late close from an older run does not shut a newer run's gate; the cache survives a restart", async (t) => {
  const s = await setup(t);
  await s.open('run-new');
  await s.cache.set({ ...s.cache.lookup(MAC)!, runId: 'run-old', open: false });
  assert.equal(s.cache.lookup(MAC)?.open, true);
  const again = new ModelCache(path.join(s.dir, 'cache'));
  const loaded = await again.load();
  assert.equal(loaded.gates, 1);
  assert.equal(again.netboot(MAC)?.runId, 'run-new');
  assert.equal(again.netboot(MAC)?.artifacts?.kernel, 'http://10.77.1.1:8080/assets/debian/linux');
});
