// The frame around every BMC activity: credentials resolved (or a clear failure naming the reference), errors
// scrubbed of the secret, non-retryable BMC errors kept non-retryable, the session released, the cap enforced.
import { ApplicationFailure } from '@temporalio/common';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BmcTarget, PowerDriver } from '../../../activities/power/driver.ts';
import { BmcError } from '../../../activities/power/driver.ts';
import { runBmcOperation } from '../../../activities/power/run-bmc-operation.ts';
import { EnvSecretStore } from '../../../agent/secrets/env-secret-store.ts';

const PASSWORD = 'Tr0ub4dor&3-secret';
const secrets = new EnvSecretStore({ VAQUERO_SECRET_LAB_BMC: `admin:${PASSWORD}` });
let released = 0;
const driver = { name: 'ipmi', release: async () => void released++ } as unknown as PowerDriver;
const target = (credentials?: string) => ({
  site: 's',
  host: 'h',
  mac: 'm',
  bmc: {
    driver: 'ipmi' as const,
    address: '10.0.0.1',
    ...(credentials !== undefined ? { credentials } : {}),
    options: {},
  },
});
const ctx = (credentials?: string, capMs?: number) => ({
  driver,
  target: target(credentials),
  secrets,
  cancelled: new AbortController().signal,
  heartbeat: () => undefined,
  ...(capMs !== undefined ? { capMs } : {}),
});

const failure = (p: Promise<unknown>) =>
  p.then(
    () => assert.fail('expected a failure'),
    (e: unknown) => {
      assert.ok(e instanceof ApplicationFailure, String(e));
      return e;
    },
  );

test('the driver sees the resolved secret; the session is released afterwards', async () => {
  let seen: BmcTarget['credentials'];
  const before = released;
  await runBmcOperation(ctx('lab-bmc'), async (t) => {
    seen = t.credentials;
  });
  assert.deepEqual(seen, { username: 'admin', password: PASSWORD });
  assert.equal(released, before + 1);
});

test('an unknown reference fails at once, naming it and where the agent looked', async () => {
  const e = await failure(runBmcOperation(ctx('rack-9'), async () => undefined));
  assert.equal(e.nonRetryable, true);
  assert.equal(e.type, 'CredentialsNotFound');
  assert.equal(
    e.message,
    'credentials "rack-9" not found on this agent (looked in: environment VAQUERO_SECRET_RACK_9[_USERNAME|_PASSWORD|_TOKEN|_PRIVATE_KEY])',
  );
});

test('errors are scrubbed of the secret and its encodings; BMC errors keep their retryability', async () => {
  const b64 = Buffer.from(`admin:${PASSWORD}`).toString('base64');
  const leaky = await failure(
    runBmcOperation(ctx('lab-bmc'), async () => {
      throw new BmcError(
        `login failed for https://admin:${encodeURIComponent(PASSWORD)}@bmc (${PASSWORD}, Basic ${b64})`,
        false,
      );
    }),
  );
  assert.equal(leaky.nonRetryable, true);
  assert.equal(leaky.message, 'login failed for https://admin:***@bmc (***, Basic ***)');
  assert.equal(leaky.cause, undefined, 'no original error (and stack) attached');

  const passing = await failure(
    runBmcOperation(ctx('lab-bmc'), async () => {
      throw new TypeError(`socket hang up ${PASSWORD}`);
    }),
  );
  assert.equal(passing.nonRetryable, false);
  assert.equal(passing.message, 'socket hang up ***');
});

test('an operation past its cap is aborted and reported as a timeout', async () => {
  const e = await failure(
    runBmcOperation(ctx(undefined, 50), (t, progress) => {
      progress('powering on');
      return new Promise((_resolve, reject) =>
        t.signal!.addEventListener('abort', () => reject(t.signal!.reason)),
      );
    }),
  );
  assert.equal(e.type, 'BmcTimeout');
  assert.equal(e.message, 'BMC operation on 10.0.0.1 exceeded 0.05s (last step: powering on)');
});
