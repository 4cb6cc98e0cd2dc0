// A connection closed while a call is retrying: the client's retry timer must not call the closed channel (that
// throws outside any promise and ends the process). The call here is not cancelled (as a caller may forget to), and
// retries to a port where nothing listens; close() waits for the scheduled retry, refuses further ones, and the
// call ends with an error instead.
import { Client } from '@temporalio/client';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { connectClosable, lazyClosable } from '../../temporal/closable-connection.ts';

test('closing while a call retries: no retry after close, the call fails, nothing is thrown later', async () => {
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  try {
    const closable = lazyClosable({ address: '127.0.0.1:1' });
    const client = new Client({ connection: closable.connection, namespace: 'default' });
    const outcome = client.workflow
      .getHandle('wf-nowhere')
      .describe()
      .then(
        () => 'answered',
        () => 'rejected',
      );
    await delay(400);
    const raced = await Promise.race([outcome, delay(100).then(() => 'still retrying')]);
    assert.equal(raced, 'still retrying', 'the client retries an unreachable server');
    await closable.close();
    assert.equal(await outcome, 'rejected');
    // Longer than any retry the SDK could have scheduled in the first half second.
    await delay(1_500);
    assert.deepEqual(uncaught.map(String), []);
    await closable.close(); // idempotent
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});

test('connectClosable refuses an unreachable server within its connect timeout', async () => {
  await assert.rejects(connectClosable({ address: '127.0.0.1:1', connectTimeout: '300 ms' }));
});
