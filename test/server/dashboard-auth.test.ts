// The dashboard's sign-in, session and forms without a browser (inject): no session goes to the sign-in form, a
// wrong or cross-origin sign-in is refused, the cookie is HttpOnly and SameSite=Strict and is never accepted by the
// REST API, a read session's button post and a post without this session's CSRF token (or from another origin)
// are refused; data is escaped; and a 10,000-host fleet is shown a page of 100 at a time.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { OPERATE_TOKEN, READ_TOKEN, offlineApp, testConfig } from './support/harness.ts';

let app: FastifyInstance;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

before(async () => {
  app = await offlineApp(await testConfig());
  const index = app.vaquero.index;
  for (let i = 0; i < 10_000; i++) {
    const host = `n${String(i).padStart(5, '0')}`;
    index.upsertHost(
      {
        site: i % 2 ? 'east' : 'west',
        host,
        stage: i === 7 ? 'netboot/dhcp' : 'provisioned',
        state: i === 7 ? 'failed' : 'provisioned',
        revision: i === 7 ? '<script>alert(1)</script>' : 'r1',
        workflowId: `host/x/${host}`,
        runId: 'r',
        startedMs: 1000,
        closedMs: 2000,
      },
      { initial: true },
    );
  }
  index.upsertRollout(
    { id: 'rollout/lab/abc', sot: 'lab', revision: 'abc', state: 'running', status: 'running', startedAt: 1 },
    { initial: true },
  );
  index.refreshedAt = Date.now();
});
after(() => app?.close());

async function signIn(token: string): Promise<{ cookie: string; csrf: string }> {
  const r = await app.inject({ method: 'POST', url: '/ui/login', headers: FORM, payload: `token=${token}` });
  assert.equal(r.statusCode, 303);
  const set = String(r.headers['set-cookie']);
  assert.match(set, /; HttpOnly/);
  assert.match(set, /; SameSite=Strict/);
  const cookie = set.split(';')[0]!;
  const page = await app.inject({ method: 'GET', url: '/', headers: { cookie } });
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
  return { cookie, csrf };
}

test('no session: the sign-in form; a wrong or cross-origin sign-in is refused', async () => {
  const r = await app.inject({ method: 'GET', url: '/' });
  assert.equal(r.statusCode, 303);
  assert.equal(r.headers.location, '/ui/login');
  assert.equal((await app.inject({ method: 'GET', url: '/ui/hosts/east/n00001' })).statusCode, 303);
  assert.equal((await app.inject({ method: 'GET', url: '/ui/events' })).statusCode, 401);
  const form = await app.inject({ method: 'GET', url: '/ui/login' });
  assert.match(form.body, /<input type="password" name="token"/);
  assert.match(String(form.headers['content-security-policy']), /form-action 'self'/);
  const wrong = await app.inject({ method: 'POST', url: '/ui/login', headers: FORM, payload: 'token=nope' });
  assert.equal(wrong.statusCode, 401);
  assert.equal(wrong.headers['set-cookie'], undefined);
  const foreign = await app.inject({
    method: 'POST',
    url: '/ui/login',
    headers: { ...FORM, origin: 'https://evil.example', host: 'vaquero.example' },
    payload: `token=${OPERATE_TOKEN}`,
  });
  assert.equal(foreign.statusCode, 403);
  assert.equal(foreign.headers['set-cookie'], undefined);
});

test('the session cookie is not a credential for the REST API', async () => {
  const { cookie } = await signIn(OPERATE_TOKEN);
  assert.equal((await app.inject({ method: 'GET', url: '/hosts', headers: { cookie } })).statusCode, 401);
  const pause = await app.inject({ method: 'POST', url: '/rollouts/lab/abc/pause', headers: { cookie } });
  assert.equal(pause.statusCode, 401);
});

test('button posts: a read session, a missing or foreign CSRF token, another origin are all refused', async () => {
  const reader = await signIn(READ_TOKEN);
  const operator = await signIn(OPERATE_TOKEN);
  assert.notEqual(reader.csrf, operator.csrf);
  const post = (s: { cookie: string }, payload: string, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url: '/ui/rollouts/lab/abc/pause',
      headers: { ...FORM, cookie: s.cookie, ...headers },
      payload,
    });
  const read = await post(reader, `csrf=${reader.csrf}`);
  assert.equal(read.statusCode, 403);
  assert.match(read.body, /needs operate/);
  assert.equal((await post(operator, '')).statusCode, 403);
  assert.equal((await post(operator, `csrf=${reader.csrf}`)).statusCode, 403);
  const foreign = await post(operator, `csrf=${operator.csrf}`, {
    origin: 'https://evil.example',
    host: 'vaquero.example',
  });
  assert.equal(foreign.statusCode, 403);
  // The read page has no button; the operate page has Pause and Abort for the running rollout.
  const readPage = (await app.inject({ method: 'GET', url: '/', headers: { cookie: reader.cookie } })).body;
  assert.doesNotMatch(readPage, /data-action=/);
  const opPage = (await app.inject({ method: 'GET', url: '/', headers: { cookie: operator.cookie } })).body;
  assert.match(opPage, /data-action="pause"/);
  assert.match(opPage, /data-action="abort"/);
  assert.doesNotMatch(opPage, /data-action="resume"/);
});

test('10,000 hosts: one page of 100 at a time, the failed host first among those needing attention; data escaped', async () => {
  const { cookie } = await signIn(READ_TOKEN);
  const r = await app.inject({ method: 'GET', url: '/', headers: { cookie } });
  assert.equal(r.statusCode, 200);
  assert.match(String(r.headers['content-security-policy']), /script-src 'self'/);
  const hosts = r.body.slice(r.body.indexOf('id="hosts"'));
  assert.match(hosts, /10000 matching/);
  assert.equal(hosts.match(/<tr data-host=/g)?.length, 100);
  const attention = r.body.slice(r.body.indexOf('id="attention"'), r.body.indexOf('id="matrix"'));
  assert.match(attention, /^[^]*?<tr data-host="east\/n00007"/);
  assert.doesNotMatch(r.body, /<script>alert/);
  // Revisions show their first 12 characters.
  assert.match(r.body, /<td>&lt;script&gt;aler<\/td>/);
  const next = /<a rel="next" href="([^"]+)"/.exec(hosts)![1]!.replace(/&amp;/g, '&');
  const page2 = await app.inject({ method: 'GET', url: next, headers: { cookie } });
  const rows2 = [...page2.body.slice(page2.body.indexOf('id="hosts"')).matchAll(/<tr data-host="([^"]+)"/g)];
  assert.equal(rows2.length, 100);
  assert.equal(rows2[0]![1], 'east/n00201');
  // A filter: the one failed host.
  const failed = await app.inject({ method: 'GET', url: '/?state=failed', headers: { cookie } });
  assert.match(failed.body.slice(failed.body.indexOf('id="hosts"')), /1 matching/);
  // A fragment request (the live script's) gets <main>'s content only.
  const frag = await app.inject({ method: 'GET', url: '/', headers: { cookie, 'x-vaquero-fragment': '1' } });
  assert.doesNotMatch(frag.body, /<html/);
  assert.match(frag.body, /id="rollouts"/);
});
