// The codec endpoint of `vaquero server` on a real Temporal: a read token gets a history's payloads decoded (the
// `temporal` CLI through --codec-endpoint, and the UI's own request shape), no token or a wrong one gets 401,
// CORS answers the UI's origin only, and a payload under a key the server does not hold is refused by name.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startServer } from '../../server/main.ts';
import type { RunningServer } from '../../server/main.ts';
import { dumpHistories, historiesContaining } from '../../testkit/history-dump.ts';
import { writeSecretSot } from '../../testkit/secret-sot.ts';
import type { SecretSot } from '../../testkit/secret-sot.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import { rolloutResult, startRollout } from '../../testkit/workflows.ts';
import { OPERATE_TOKEN, READ_TOKEN, testConfig } from './support/harness.ts';

const UI = 'http://127.0.0.1:8233';
let dir: string;
let stack: TestStack;
let server: RunningServer;
let sot: SecretSot;
/** Every payload of h1's history, as stored (encrypted), in the protocol's JSON. */
let stored: { metadata: Record<string, string>; data: string }[];

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vq-codec-endpoint-'));
  stack = await startTestStack({ name: 'codec-endpoint' });
  sot = await writeSecretSot('codecep', dir);
  const site = await stack.startSimSite(sot.site);
  const r = await startRollout(stack.client, sot);
  assert.equal((await rolloutResult(stack.client, r.workflowId)).state, 'completed');
  await site.stop();
  server = await startServer(
    await testConfig({
      temporal: { address: stack.address, namespace: stack.namespace, codec: stack.codec },
      codecEndpoint: { corsOrigins: [UI] },
    }),
    { log: () => undefined },
  );
  const history = await stack.client.workflow.getHandle(`host/${sot.site}/h1`).fetchHistory();
  stored = [];
  // Every { metadata, data } object in the history: inputs, results, signals, markers.
  const walk = (o: unknown): void => {
    if (!o || typeof o !== 'object') return;
    const p = o as { metadata?: Record<string, Uint8Array>; data?: Uint8Array };
    if (p.metadata && p.data instanceof Uint8Array) {
      stored.push({
        metadata: Object.fromEntries(
          Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
        ),
        data: Buffer.from(p.data).toString('base64'),
      });
      return;
    }
    for (const v of Object.values(o)) walk(v);
  };
  walk(history);
  assert.ok(stored.length > 5, `${stored.length} payloads in h1's history`);
});
after(async () => {
  await server?.close();
  await stack?.close();
  await rm(dir, { recursive: true, force: true });
});

const decode = (headers: Record<string, string>, payloads: unknown = stored) =>
  fetch(`${server.url}/codec/decode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-namespace': stack.namespace, origin: UI, ...headers },
    body: JSON.stringify({ payloads }),
  });
const plainText = (payloads: { data: string }[]) =>
  payloads.map((p) => Buffer.from(p.data, 'base64').toString('utf8')).join('\n');

test('a read token gets the payloads decoded; the stored ones hold no secret', async () => {
  assert.ok(!plainText(stored).includes(sot.secret));
  for (const token of [READ_TOKEN, OPERATE_TOKEN]) {
    const r = await decode({ authorization: `Bearer ${token}` });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), UI);
    const body = (await r.json()) as { payloads: { data: string }[] };
    assert.equal(body.payloads.length, stored.length);
    assert.ok(plainText(body.payloads).includes(sot.secret), 'the rendered config, decoded');
  }
});

test('no token, a wrong one, or a malformed header: 401, and nothing decoded', async () => {
  for (const headers of [
    {},
    { authorization: `Bearer ${READ_TOKEN}x` },
    { authorization: 'Bearer not-a-token-at-all-0123456789' },
    { authorization: READ_TOKEN },
  ]) {
    const r = await decode(headers);
    assert.equal(r.status, 401, JSON.stringify(headers));
    const text = await r.text();
    assert.ok(!text.includes(sot.secret));
    // The UI can read why.
    assert.equal(r.headers.get('access-control-allow-origin'), UI);
  }
});

test('the temporal CLI decodes through the endpoint with a read token only', async () => {
  const url = `${server.url}/codec`;
  const withToken = await dumpHistories(stack.client, {
    ...stack,
    codecEndpoint: { url, auth: `Bearer ${READ_TOKEN}` },
  });
  assert.ok(historiesContaining(withToken, [sot.secret]).some((id) => id.startsWith(`host/${sot.site}/`)));
  await assert.rejects(
    dumpHistories(stack.client, { ...stack, codecEndpoint: { url, auth: 'Bearer wrong-token-0123456789' } }),
  );
});

test('CORS: the configured UI origin gets its preflight answered, any other is refused', async () => {
  const preflight = (origin: string) =>
    fetch(`${server.url}/codec/decode`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type,x-namespace',
      },
    });
  const ok = await preflight(UI);
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get('access-control-allow-origin'), UI);
  assert.match(ok.headers.get('access-control-allow-headers') ?? '', /authorization/);
  const evil = await preflight('http://evil.example');
  assert.equal(evil.status, 403);
  assert.equal(evil.headers.get('access-control-allow-origin'), null);
  const r = await decode({ authorization: `Bearer ${READ_TOKEN}`, origin: 'http://evil.example' });
  assert.equal(r.headers.get('access-control-allow-origin'), null);
});

test('encode then decode round-trips; bad base64 and foreign keys are refused with the reason', async () => {
  const auth = { authorization: `Bearer ${READ_TOKEN}` };
  const plain = [
    { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: 'eyJhIjoxfQ==' },
  ];
  const enc = (await (
    await fetch(`${server.url}/codec/encode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ payloads: plain }),
    })
  ).json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
  assert.equal(Buffer.from(enc.payloads[0]!.metadata.encoding!, 'base64').toString(), 'binary/encrypted');
  const dec = (await (await decode(auth, enc.payloads)).json()) as { payloads: unknown[] };
  assert.deepEqual(dec.payloads, plain);
  assert.equal((await decode(auth, [{ data: '!!not base64!!' }])).status, 400);
  const foreign = {
    ...enc.payloads[0]!,
    metadata: { ...enc.payloads[0]!.metadata, 'encryption-key-id': Buffer.from('k9').toString('base64') },
  };
  const refused = await decode(auth, [foreign]);
  assert.equal(refused.status, 400);
  assert.match(await refused.text(), /payload encrypted with key k9, not in keys \[dev\]/);
});

test('the Temporal UI with cross-origin credentials: the dashboard session decodes, from the UI origin only', async () => {
  // Signed in as a browser signs in: the login form's POST sets the session cookie.
  const login = await fetch(`${server.url}/ui/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: READ_TOKEN }).toString(),
    redirect: 'manual',
  });
  const cookie = /^(vaquero_session=[^;]+)/.exec(login.headers.get('set-cookie') ?? '')?.[1];
  assert.ok(cookie, `no session cookie from the login: ${login.status}`);

  const r = await decode({ cookie });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), UI);
  assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
  const body = (await r.json()) as { payloads: { data: string }[] };
  assert.ok(plainText(body.payloads).includes(sot.secret), 'decoded for the session');

  // The cookie from another origin, a session the server does not know, or no origin at all: 401.
  for (const headers of [
    { cookie, origin: 'http://evil.example' },
    { cookie: 'vaquero_session=not-a-token-0123456789' },
    { cookie, origin: '' },
  ]) {
    const bad = await decode(headers);
    assert.equal(bad.status, 401, JSON.stringify(headers));
    assert.ok(!(await bad.text()).includes(sot.secret));
  }
});
