// A JSON body is typed already: a number where the API wants a string is a 400 naming the field, not a string
// made up from it (hardening finding 5: `{"reason": 229561}` was accepted). Query strings are text, so they are
// still read as their schema's types (`limit=5` is a number).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { call, errorCode, offlineApp, READ_TOKEN, testConfig } from './support/harness.ts';

let app: FastifyInstance;
before(async () => {
  app = await offlineApp(await testConfig());
});
after(() => app?.close());

test('numbers, booleans and arrays where a body wants a string are refused, each naming its field', async () => {
  for (const [url, body, field] of [
    ['/rollouts/main/0123456789abcdef0123456789abcdef01234567/abort', { reason: 229561 }, 'reason'],
    ['/rollouts/main/0123456789abcdef0123456789abcdef01234567/pause', { reason: true }, 'reason'],
    ['/rollouts', { sot: 12 }, 'sot'],
    ['/rollouts', { sot: ['main'] }, 'sot'],
    ['/rollouts', { sot: 'main', force: 'true' }, 'force'],
  ] as const) {
    const r = await call(app, 'POST', url, { body });
    assert.equal(r.status, 400, `${url} ${JSON.stringify(body)}: ${r.status} ${JSON.stringify(r.json)}`);
    assert.equal(errorCode(r), 'validation_failed');
    assert.match(JSON.stringify(r.json), new RegExp(field));
  }
});

test('query strings are still read as their types', async () => {
  const ok = await call(app, 'GET', '/hosts?limit=5', { token: READ_TOKEN });
  assert.notEqual(ok.status, 400, JSON.stringify(ok.json));
  const bad = await call(app, 'GET', '/hosts?limit=five', { token: READ_TOKEN });
  assert.equal(bad.status, 400);
});
