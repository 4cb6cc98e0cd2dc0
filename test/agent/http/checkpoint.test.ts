// /checkpoint/<token>: the run's token completes the stage and carries the reported command line; no other does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHECKPOINT_TOKEN_PLACEHOLDER } from '../../../sot/render.ts';
import { setup } from './support/agent-http.ts';

test('the checkpoint records the command line the OS reports, with the run token back to its placeholder', async (t) => {
  const s = await setup(t);
  await s.open('run-1', 1);
  const token = s.tokens.tokenFor('host/lab/node-02', 'run-1', 1);
  const booted = `initrd=initrd.gz quiet callback=http://10.77.1.1:8080/checkpoint/${token}`;
  const cp = await s.app.inject({
    url: `/checkpoint/${token}?stage=tiny&cmdline=${encodeURIComponent(booted)}`,
  });
  assert.equal(cp.statusCode, 200);
  const tooLong = await s.app.inject({ url: `/checkpoint/${token}?cmdline=${'x'.repeat(4097)}` });
  assert.equal(tooLong.statusCode, 400, 'the reported command line is bounded');
  assert.ok(await s.outbox.drain());
  assert.deepEqual(
    s.sent.map((x) => x.event.detail?.replace(/^checkpoint from [^;]*/, '')),
    [
      `; cmdline=initrd=initrd.gz quiet callback=http://10.77.1.1:8080/checkpoint/${CHECKPOINT_TOKEN_PLACEHOLDER}`,
    ],
  );
});

test('a wrong, old-run or old-stage token is refused and records nothing', async (t) => {
  const s = await setup(t);
  await s.open('run-2', 2);
  for (const bad of [
    'x',
    s.tokens.tokenFor('host/lab/node-02', 'run-1', 2),
    s.tokens.tokenFor('host/lab/node-02', 'run-2', 1),
  ]) {
    assert.equal((await s.app.inject({ url: `/checkpoint/${bad}` })).statusCode, 404);
  }
  assert.ok(await s.outbox.drain());
  assert.equal(s.sent.length, 0);
});
