// Cancellable calls: a call in flight ends when cancelAll() is called (here one the client keeps retrying, to a
// port where nothing listens), a later one is cancelled at once, and no call stays tracked once it has ended.
import { Client, Connection } from '@temporalio/client';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { CancellableCalls } from '../../temporal/cancellable-calls.ts';

test('cancelAll ends the calls in flight and every later one; ended calls are not kept', async () => {
  const connection = await Connection.lazy({ address: '127.0.0.1:1' });
  const client = new Client({ connection, namespace: 'default' });
  const calls = new CancellableCalls(client);
  try {
    const inFlight = calls.run(() => client.workflow.getHandle('wf-nowhere').describe());
    const outcome = inFlight.then(
      () => 'answered',
      () => 'rejected',
    );
    await delay(300);
    assert.equal(calls.size, 1);
    const raced = await Promise.race([outcome, delay(200).then(() => 'still waiting')]);
    assert.equal(raced, 'still waiting', 'the client retries an unreachable server');
    calls.cancelAll();
    assert.equal(await outcome, 'rejected');
    assert.equal(calls.size, 0);
    await assert.rejects(calls.run(() => client.workflow.getHandle('wf-nowhere').describe()));
    assert.equal(calls.size, 0);
  } finally {
    await connection.close();
  }
});
