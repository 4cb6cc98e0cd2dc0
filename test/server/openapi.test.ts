// The OpenAPI document: valid OpenAPI 3 (checked by openapi-spec-validator, an independent implementation), and
// complete: every route the app serves is in it, with its parameters and response schemas.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { call, offlineApp, READ_TOKEN, testConfig } from './support/harness.ts';

const execFileP = promisify(execFile);

interface Operation {
  parameters?: { in: string; name: string }[];
  requestBody?: unknown;
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
  security?: unknown[];
}
interface Doc {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
}

let app: FastifyInstance;
let doc: Doc;
before(async () => {
  app = await offlineApp(await testConfig());
  const res = await call(app, 'GET', '/docs/json', { token: READ_TOKEN });
  assert.equal(res.status, 200);
  doc = res.json as unknown as Doc;
});
after(() => app?.close());

test('the document validates against the OpenAPI 3.0 specification', async () => {
  assert.match(doc.openapi, /^3\.0\.\d$/);
  const dir = await mkdtemp(path.join(tmpdir(), 'vaq-openapi-'));
  const file = path.join(dir, 'openapi.json');
  await writeFile(file, JSON.stringify(doc));
  // openapi-spec-validator (Python) is part of this machine kind's toolset; its exit code is the verdict.
  const { stdout } = await execFileP('python3', ['-m', 'openapi_spec_validator', file]);
  assert.match(stdout, /: OK\s*$/);
  // And a broken document is caught, so the check can fail.
  const broken = structuredClone(doc) as unknown as Record<string, unknown>;
  delete (broken as { info?: unknown }).info;
  await writeFile(file, JSON.stringify(broken));
  await assert.rejects(execFileP('python3', ['-m', 'openapi_spec_validator', file]));
});

test('every route of the app is in the document, with parameters and JSON response schemas', () => {
  // CORS preflights are the browser's plumbing, not operations; the dashboard's pages (/, /ui/…) are for browsers.
  const routes = app.vaquero.routes.filter(
    (r) =>
      r.method !== 'HEAD' &&
      r.method !== 'OPTIONS' &&
      !r.url.startsWith('/docs') &&
      !r.url.startsWith('/ui/') &&
      r.url !== '/',
  );
  assert.ok(routes.length >= 18);
  for (const r of routes) {
    const p = r.url.replace(/:(\w+)/g, '{$1}');
    const op = doc.paths[p]?.[r.method.toLowerCase()];
    assert.ok(op, `${r.method} ${r.url} is not in the document`);
    for (const name of [...r.url.matchAll(/:(\w+)/g)].map((m) => m[1]!)) {
      assert.ok(
        op.parameters?.some((x) => x.in === 'path' && x.name === name),
        `${r.method} ${r.url}: path parameter ${name}`,
      );
    }
    const ok = Object.entries(op.responses).filter(([s]) => /^2/.test(s));
    assert.ok(ok.length > 0, `${r.method} ${r.url}: no success response`);
    for (const [, resp] of ok) {
      const content = Object.values(resp.content ?? {});
      assert.ok(
        content.length > 0 && content.every((c) => c.schema),
        `${r.method} ${r.url}: response without schema`,
      );
    }
    for (const s of ['401', '500']) {
      if (r.url === '/webhooks/github' && s === '401') continue;
      assert.ok(op.responses[s], `${r.method} ${r.url}: no ${s} response`);
    }
    if (r.method === 'POST' && !r.url.endsWith('/resume'))
      assert.ok(op.requestBody, `${r.method} ${r.url}: no request body schema`);
  }
  // And nothing in the document that the app does not serve.
  const served = new Set(routes.map((r) => `${r.method.toLowerCase()} ${r.url.replace(/:(\w+)/g, '{$1}')}`));
  for (const [p, ops] of Object.entries(doc.paths))
    for (const m of Object.keys(ops)) assert.ok(served.has(`${m} ${p}`), `${m} ${p}`);
});

test('shared schemas are components; open routes declare no security; the webhook declares its signature', () => {
  for (const name of [
    'Error',
    'HostSummary',
    'HostDetail',
    'RolloutSummary',
    'RolloutDetail',
    'Plan',
    'StartResult',
    'WebhookResult',
  ]) {
    assert.ok(doc.components.schemas[name], name);
  }
  assert.deepEqual(doc.paths['/live']!.get!.security, []);
  assert.equal(doc.paths['/hosts']!.get!.security, undefined);
  assert.deepEqual(doc.paths['/webhooks/github']!.post!.security, [{ githubSignature: [] }]);
});

test('the documentation UI is served at /docs', async () => {
  const res = await app.inject({ method: 'GET', url: '/docs' });
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /swagger/i);
});
