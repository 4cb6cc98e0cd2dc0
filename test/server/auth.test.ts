// Authentication, authorization and the error shape, for every route the app serves, through the app builder
// (inject, no socket) with a Temporal client that never connects: none of these answers may depend on Temporal.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { TokenVerifier } from '../../server/auth.ts';
import { OPERATE_TOKEN, READ_TOKEN, call, errorCode, offlineApp, testConfig } from './support/harness.ts';

let app: FastifyInstance;
before(async () => {
  app = await offlineApp(
    await testConfig({
      auth: { tokens: (await testConfig()).auth.tokens, open: ['/live', '/ready', '/metrics'] },
    }),
  );
});
after(() => app?.close());

const SAMPLE: Record<string, string> = {
  site: 'lab',
  host: 'node-01',
  sot: 'lab',
  revision: 'dir-0123456789ab',
};
const OPEN = new Set(['/live', '/ready', '/metrics']);

const isDashboard = (url: string) => url === '/' || url.startsWith('/ui/');

/**
 * The app's own routes (not the docs UI's static files, not HEAD twins), with sample path parameters; the
 * dashboard's (`/`, `/ui/…`) separately, as they take a session cookie rather than a bearer token.
 */
function allRoutes(): { method: string; url: string; path: string }[] {
  return (
    app.vaquero.routes
      // CORS preflights (the codec endpoint's) are anonymous by the browser's rules: codec-endpoint.test.ts.
      .filter((r) => r.method !== 'HEAD' && r.method !== 'OPTIONS' && !r.url.startsWith('/docs'))
      .map((r) => ({ ...r, path: r.url.replace(/:(\w+)/g, (_m, name: string) => SAMPLE[name] ?? 'x') }))
  );
}

function routes(): { method: string; url: string; path: string }[] {
  return allRoutes().filter((r) => !isDashboard(r.url));
}

test('without a session, no dashboard route shows data or acts; a bearer token is no session', async () => {
  const dashboard = allRoutes().filter((r) => isDashboard(r.url));
  assert.ok(dashboard.length >= 8);
  for (const token of [null, OPERATE_TOKEN]) {
    for (const r of dashboard) {
      // The sign-in form and the two static files hold no data; signing in is dashboard-auth.test.ts's.
      if (r.url === '/ui/login' || r.url.startsWith('/ui/assets/')) continue;
      const res = await call(app, r.method as 'GET', r.path, {
        token,
        ...(r.method === 'POST'
          ? { body: 'csrf=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }
          : {}),
      });
      if (r.url === '/ui/events') assert.equal(res.status, 401, `${r.method} ${r.path}`);
      else {
        assert.equal(res.status, 303, `${r.method} ${r.path}`);
        assert.equal(res.res.headers.location, '/ui/login', `${r.method} ${r.path}`);
      }
    }
  }
});

test('the app serves every route group of the API', () => {
  const urls = new Set(routes().map((r) => `${r.method} ${r.url}`));
  for (const want of [
    'GET /live',
    'GET /ready',
    'GET /metrics',
    'GET /sites',
    'GET /sots',
    'GET /hosts',
    'GET /hosts/:site/:host',
    'POST /hosts/:site/:host/override',
    'POST /hosts/reprovision',
    'GET /rollouts',
    'POST /rollouts',
    'GET /rollouts/:sot/:revision',
    'POST /rollouts/:sot/:revision/pause',
    'POST /rollouts/:sot/:revision/resume',
    'POST /rollouts/:sot/:revision/abort',
    'GET /plan',
    'GET /events',
    'POST /webhooks/github',
  ]) {
    assert.ok(urls.has(want), `${want} missing from ${[...urls].join(', ')}`);
  }
});

test('without a token every route but the open ones answers 401 in the error shape', async () => {
  for (const r of routes()) {
    if (OPEN.has(r.url) || r.url === '/webhooks/github') continue;
    const res = await call(app, r.method as 'GET', r.path, {
      token: null,
      body: r.method === 'POST' ? {} : undefined,
    });
    assert.equal(res.status, 401, `${r.method} ${r.path}`);
    assert.equal(errorCode(res), 'unauthorized');
    assert.match(String(res.res.headers['www-authenticate']), /^Bearer realm="vaquero"$/);
  }
});

test('a wrong token is refused everywhere, whatever its length', async () => {
  for (const token of [
    'x',
    OPERATE_TOKEN.slice(0, -1),
    `${OPERATE_TOKEN}x`,
    OPERATE_TOKEN.toUpperCase(),
    READ_TOKEN.replace(/.$/, '!'),
  ]) {
    for (const r of routes()) {
      if (OPEN.has(r.url) || r.url === '/webhooks/github') continue;
      const res = await call(app, r.method as 'GET', r.path, {
        token,
        body: r.method === 'POST' ? {} : undefined,
      });
      assert.equal(res.status, 401, `${token} on ${r.method} ${r.path}`);
      assert.equal(errorCode(res), 'unauthorized');
      assert.match(String(res.res.headers['www-authenticate']), /invalid_token/);
    }
  }
});

test('a read-only token may read but every mutating route answers 403', async () => {
  let mutating = 0;
  for (const r of routes()) {
    // The event stream never ends (it is read over a socket in api.test.ts).
    if (r.url === '/webhooks/github' || r.url === '/events') continue;
    const res = await call(app, r.method as 'GET', r.path, {
      token: READ_TOKEN,
      body: r.method === 'POST' ? {} : undefined,
    });
    // The codec endpoint is POST but reads: a read token is what the Temporal UI holds.
    if (r.method === 'GET' || r.url.startsWith('/codec/')) {
      assert.notEqual(res.status, 401, `${r.method} ${r.path}`);
      assert.notEqual(res.status, 403, `${r.method} ${r.path}`);
    } else {
      mutating++;
      assert.equal(res.status, 403, `${r.method} ${r.path}: ${res.res.body}`);
      assert.equal(errorCode(res), 'forbidden');
    }
  }
  assert.equal(mutating, 6);
});

test('an operate token passes authorization on mutating routes (then validation speaks)', async () => {
  const res = await call(app, 'POST', '/rollouts', { body: {} });
  assert.equal(res.status, 400);
  assert.equal(errorCode(res), 'validation_failed');
});

test('malformed Authorization headers are refused', async () => {
  for (const h of [
    'Basic abc',
    'Bearer',
    'Bearer ',
    `Token ${OPERATE_TOKEN}`,
    `Bearer ${OPERATE_TOKEN} extra`,
  ]) {
    const res = await call(app, 'GET', '/sites', { token: null, headers: { authorization: h } });
    assert.equal(res.status, 401, h);
  }
});

test('the open routes answer without a token; opening is configuration', async () => {
  assert.equal((await call(app, 'GET', '/live', { token: null })).status, 200);
  assert.equal((await call(app, 'GET', '/metrics', { token: null })).status, 200);
  // Temporal is unreachable here: /ready says so, and is not ready.
  const ready = await call(app, 'GET', '/ready', { token: null });
  assert.equal(ready.status, 503);
  assert.equal((ready.json.temporal as { reachable: boolean }).reachable, false);
  assert.equal(ready.json.ready, false);
  // /docs is closed in this configuration.
  assert.equal((await call(app, 'GET', '/docs/json', { token: null })).status, 401);
  assert.equal((await call(app, 'GET', '/docs/json', { token: READ_TOKEN })).status, 200);

  const closed = await offlineApp(
    await testConfig({ auth: { tokens: (await testConfig()).auth.tokens, open: [] } }),
  );
  try {
    for (const p of ['/live', '/ready', '/metrics', '/docs/json']) {
      const res = await call(closed, 'GET', p, { token: null });
      assert.equal(res.status, 401, p);
      assert.equal(errorCode(res), 'unauthorized');
    }
    assert.equal((await call(closed, 'GET', '/live', { token: READ_TOKEN })).status, 200);
  } finally {
    await closed.close();
  }
});

test('validation errors: one shape, each problem in details', async () => {
  const cases: [string, string, unknown, string][] = [
    ['GET', '/hosts?limit=0', undefined, '/limit'],
    ['GET', '/hosts?limit=10001', undefined, '/limit'],
    ['GET', '/hosts?limit=abc', undefined, '/limit'],
    ['GET', '/hosts?stage=nowhere', undefined, '/stage'],
    ['GET', '/hosts?colour=blue', undefined, ''],
    ['GET', '/rollouts?limit=-1', undefined, '/limit'],
    ['GET', '/plan', undefined, ''],
    ['GET', '/plan?sot=Bad%20Name', undefined, '/sot'],
    ['GET', '/events?types=everything', undefined, '/types'],
    ['POST', '/rollouts', { sot: 'lab', extra: 1 }, ''],
    ['POST', '/rollouts', { sot: 'lab', revision: '../etc' }, '/revision'],
    ['POST', '/hosts/reprovision', { hosts: [] }, '/hosts'],
    ['POST', '/hosts/reprovision', { hosts: ['no-site'] }, '/hosts/0'],
    ['POST', '/hosts/lab/node-01/override', { action: 'explode', reason: 'x' }, '/action'],
    ['POST', '/hosts/lab/node-01/override', { action: 'fail' }, ''],
    ['POST', '/rollouts/lab/dir-0123456789ab/pause', { reason: 'x'.repeat(501) }, '/reason'],
    ['POST', '/rollouts/lab/dir-0123456789ab/abort', { reason: { why: 1 } }, '/reason'],
    ['GET', '/hosts/lab/no%20such', undefined, '/host'],
  ];
  for (const [method, url, body, where] of cases) {
    const res = await call(app, method as 'GET', url, { body });
    assert.equal(res.status, 400, `${method} ${url}: ${res.res.body}`);
    assert.equal(errorCode(res), 'validation_failed', url);
    const details = (res.json.error as { details: { path: string; in: string }[] }).details;
    assert.ok(Array.isArray(details) && details.length > 0, url);
    assert.equal(details[0]!.path, where, `${url}: ${JSON.stringify(details)}`);
  }
});

test('other request errors keep the shape: bad JSON, wrong media type, unknown route, bad cursor', async () => {
  const badJson = await app.inject({
    method: 'POST',
    url: '/rollouts',
    headers: { authorization: `Bearer ${OPERATE_TOKEN}`, 'content-type': 'application/json' },
    payload: '{"sot":',
  });
  assert.equal(badJson.statusCode, 400);
  assert.equal((JSON.parse(badJson.body) as { error: { code: string } }).error.code, 'bad_request');
  const media = await app.inject({
    method: 'POST',
    url: '/rollouts',
    headers: { authorization: `Bearer ${OPERATE_TOKEN}`, 'content-type': 'application/xml' },
    payload: '<sot>lab</sot>',
  });
  assert.equal(media.statusCode, 415);
  assert.equal((JSON.parse(media.body) as { error: { code: string } }).error.code, 'unsupported_media_type');
  const missing = await call(app, 'GET', '/no/such/route');
  assert.equal(missing.status, 404);
  assert.equal(errorCode(missing), 'not_found');
  // A path the API has, with a method it does not take there: 405 and the methods it does (finding 5).
  for (const [method, url, allow] of [
    ['DELETE', '/rollouts', 'GET, HEAD, POST'],
    ['PUT', '/hosts/lab/node-01', 'GET, HEAD'],
    ['PATCH', '/rollouts/lab/dir-123/pause', 'POST'],
  ] as const) {
    const r = await call(app, method, url);
    assert.equal(r.status, 405, `${method} ${url}: ${r.res.body}`);
    assert.equal(errorCode(r), 'method_not_allowed');
    assert.equal(r.res.headers.allow, allow, `${method} ${url}`);
  }
  app.vaquero.index.refreshedAt = Date.now();
  const cursor = await call(app, 'GET', '/hosts?cursor=garbage', { token: READ_TOKEN });
  assert.equal(cursor.status, 400);
  assert.equal(errorCode(cursor), 'bad_cursor');
});

test('a SoT that is not configured is a 404, not a path anybody can name', async () => {
  const res = await call(app, 'POST', '/rollouts', { body: { sot: 'nope' } });
  assert.equal(res.status, 404);
  assert.equal(errorCode(res), 'not_found');
});

test('TokenVerifier: exact tokens only, every token compared', () => {
  const v = new TokenVerifier([
    { name: 'a', role: 'operate', token: 'a'.repeat(20) },
    { name: 'b', role: 'read', token: 'b'.repeat(40) },
  ]);
  assert.deepEqual(v.verify('a'.repeat(20)), { name: 'a', role: 'operate' });
  assert.deepEqual(v.verify('b'.repeat(40)), { name: 'b', role: 'read' });
  for (const t of ['', 'a'.repeat(19), 'a'.repeat(21), 'b'.repeat(39) + 'c', 'A'.repeat(20)])
    assert.equal(v.verify(t), undefined, t);
});

test('request latencies are exported per route', async () => {
  await call(app, 'GET', '/sites', { token: READ_TOKEN });
  const metrics = await call(app, 'GET', '/metrics', { token: null });
  assert.match(
    metrics.res.body,
    /vaquero_http_request_duration_seconds_count\{method="GET",route="\/sites",status="503"\} \d+/,
  );
  assert.match(
    metrics.res.body,
    /vaquero_http_request_duration_seconds_count\{method="GET",route="\/hosts",status="400"\} \d+/,
  );
});
