// A host's script and config go to that host only: its bound address, its boot credential or its reservation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAC, setup } from './support/agent-http.ts';

test('a script or config is served only to its own host: bound address, boot credential or reservation', async (t) => {
  const s = await setup(t);
  await s.open('run-1', 1);
  const token = s.tokens.tokenFor('host/lab/node-02', 'run-1', 1);
  const gate = { workflowId: 'host/lab/node-02', runId: 'run-1', bootStage: 1, mac: MAC };
  const credential = s.tokens.bootCredential(gate);
  const from = (remoteAddress: string, url: string) => s.app.inject({ url, remoteAddress });

  // A client that never asked for DHCP names node-02: refused, nothing of the host's leaks, no event.
  for (const url of [`/ipxe?mac=${MAC}`, `/config/${MAC}`, `/config/${MAC}?stage=1`]) {
    const r = await from('10.9.9.9', url);
    assert.equal(r.statusCode, 403, url);
    assert.ok(!r.body.includes(token) && !r.body.includes('kernel'), `${url} leaked: ${r.body}`);
  }
  // An address the DHCP server gave another host is that host, not node-02.
  s.recorder.bind('10.9.9.8', '52:54:00:77:01:99');
  assert.equal((await from('10.9.9.8', `/config/${MAC}`)).statusCode, 403);
  // A credential of another run or stage, or of another MAC, proves nothing.
  for (const bad of [
    s.tokens.bootCredential({ ...gate, runId: 'run-0' }),
    s.tokens.bootCredential({ ...gate, bootStage: 2 }),
    s.tokens.bootCredential({ ...gate, mac: '52:54:00:77:01:99' }),
    token,
  ])
    assert.equal((await from('10.9.9.7', `/ipxe?mac=${MAC}&boot=${bad}`)).statusCode, 403);
  const health = (await s.app.inject({ url: '/health' })).json<{ events: { refused: number } }>();
  assert.equal(health.events.refused, 8);
  assert.ok(await s.outbox.drain());
  assert.equal(s.sent.length, 0, 'refusals are not boot events');

  // The credential the DHCP answer carried: the script, and the address is then the host's for its config.
  const script = await from('10.9.9.7', `/ipxe?mac=${MAC}&boot=${credential}`);
  assert.equal(script.statusCode, 200);
  assert.ok(script.body.includes(`/checkpoint/${token}`));
  assert.equal((await from('10.9.9.7', `/config/${MAC}?stage=1`)).statusCode, 200);
  // The address reserved for the host in the site model (a routed host whose lease another server gave).
  await s.cache.setSiteModel({
    sot: 'lab',
    revision: 'dir-abc',
    site: 'lab',
    httpUrl: 'http://10.77.1.1:8080',
    dhcpMode: 'proxy',
    subnets: [],
    reservations: [{ host: 'node-02', mac: MAC, ipv4: '10.77.1.12', subnet: 'prov' }],
  });
  assert.equal((await from('10.77.1.12', `/config/${MAC}`)).statusCode, 200);
  assert.ok(await s.outbox.drain());
  assert.deepEqual(
    s.sent.map((x) => x.event.kind),
    ['ipxe', 'config', 'config'],
  );
});
