// /ipxe and /config for an open gate, with the run token; the give-up script for a closed gate or an unknown MAC.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHECKPOINT_TOKEN_PLACEHOLDER } from '../../../sot/render.ts';
import { MAC, setup } from './support/agent-http.ts';

test('an open gate gets its iPXE script and config with the run token; each fetch is an event', async (t) => {
  const s = await setup(t);
  await s.open();
  // inject's client address is 127.0.0.1: bind it to the host, as the agent's DHCP does when it acknowledges.
  s.recorder.bind('127.0.0.1', MAC);
  const token = s.tokens.tokenFor('host/lab/node-02', 'run-1', 1);
  const script = await s.app.inject({ url: `/ipxe?mac=${MAC.replace(/:/g, '-')}` });
  assert.equal(script.statusCode, 200);
  assert.ok(script.body.includes(`/checkpoint/${token} `) || script.body.includes(`/checkpoint/${token}\n`));
  assert.ok(!script.body.includes(CHECKPOINT_TOKEN_PLACEHOLDER));
  // As rendered, with the token, and back to DHCP when a fetch or the boot fails (sot/ipxe-script.ts).
  assert.equal(
    script.body,
    [
      '#!ipxe',
      `kernel http://10.77.1.1:8080/assets/debian/linux initrd=initrd.gz callback=http://10.77.1.1:8080/checkpoint/${token} || goto vaquero_retry`,
      'boot || goto vaquero_retry',
      ':vaquero_retry',
      'imgfree',
      'inc vaquero_retries',
      'iseq ${vaquero_retries} 4 && goto vaquero_give_up ||',
      'echo vaquero: boot failed: DHCP again and chain the answer (retry ${vaquero_retries} of 3)',
      'sleep 2',
      'dhcp || goto vaquero_retry',
      'chain --replace --autofree ${filename} || goto vaquero_retry',
      ':vaquero_give_up',
      'echo vaquero: boot failed after 3 retries: giving up',
      'exit 1',
      '',
    ].join('\n'),
  );
  const config = await s.app.inject({ url: `/config/${MAC}?stage=1` });
  assert.equal(config.statusCode, 200);
  assert.equal(config.headers['content-type'], 'text/cloud-config');
  assert.equal(config.body, `#cloud-config\nrun: ${token}\n`);
  assert.equal(
    (await s.app.inject({ url: `/config/${MAC}?stage=2` })).statusCode,
    404,
    'only the current stage',
  );
  const cp = await s.app.inject({ url: `/checkpoint/${token}` });
  assert.equal(cp.statusCode, 200);
  assert.deepEqual(cp.json(), { ok: true, host: 'node-02', stage: 1 });
  assert.ok(await s.outbox.drain());
  assert.deepEqual(
    s.sent.map((x) => [x.workflowId, x.event.kind, x.event.mac]),
    [
      ['host/lab/node-02', 'ipxe', MAC],
      ['host/lab/node-02', 'config', MAC],
      ['host/lab/node-02', 'checkpoint', MAC],
    ],
  );
  assert.equal(new Set(s.sent.map((x) => x.event.id)).size, 3, 'event ids are unique');
});

test('a closed gate or an unknown MAC gets the give-up script and no event', async (t) => {
  const s = await setup(t);
  s.recorder.bind('127.0.0.1', '52:54:00:00:00:99');
  const unknown = await s.app.inject({ url: '/ipxe?mac=52:54:00:00:00:99' });
  assert.equal(unknown.statusCode, 404);
  assert.match(unknown.body, /^#!ipxe\n[\s\S]*exit 1/);
  await s.open();
  s.recorder.bind('127.0.0.1', MAC);
  const { artifacts: _artifacts, ...closedGate } = s.cache.lookup(MAC)!;
  await s.cache.set({ ...closedGate, open: false, bootStage: 0 });
  assert.equal((await s.app.inject({ url: `/ipxe?mac=${MAC}` })).statusCode, 404);
  assert.equal((await s.app.inject({ url: `/config/${MAC}` })).statusCode, 404);
  assert.equal(s.recorder.stats().recorded, 0);
});
