// The agent resolves a served config's secret references from its own store (a real secrets file), and names a
// reference it lacks without showing any value.
import { withTaskSecrets } from '../../../agent/secrets/task-env-secrets.ts';
import type { TaskRunInput } from '../../../domain/activity-contracts.ts';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { secretPlaceholder } from '../../../domain/secret.ts';
import { createSecretStore } from '../../../agent/secrets/create-secret-store.ts';
import {
  MissingSecretError,
  resolveSecretPlaceholders,
} from '../../../agent/secrets/resolve-placeholders.ts';

const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-secret-resolve-'));
after(() => rm(dir, { recursive: true, force: true }));

test('placeholders become the store values; a missing reference is named', async () => {
  const file = path.join(dir, 'secrets.yaml');
  await writeFile(file, 'join-token: { token: "K10abc::server:xyz" }\nbmc: "admin:s3cret"\n');
  const store = createSecretStore({ file });
  const text = `a: ${secretPlaceholder('join-token')}\nb: ${secretPlaceholder('bmc', 'password')}\nc: ${secretPlaceholder('join-token')}\n`;
  assert.equal(
    await resolveSecretPlaceholders(text, store),
    'a: K10abc::server:xyz\nb: s3cret\nc: K10abc::server:xyz\n',
  );
  assert.equal(await resolveSecretPlaceholders('no refs', store), 'no refs');
  await assert.rejects(
    resolveSecretPlaceholders(`x: ${secretPlaceholder('nope')}`, store),
    (err: unknown) =>
      err instanceof MissingSecretError && /secret nope \(token\) not found/.test(err.message),
  );
});

test('task env references are resolved as the runner starts the tasks; the input keeps the reference', async () => {
  const file = path.join(dir, 'secrets.env');
  await writeFile(file, 'join-token.token=tok-123\n');
  const seen: TaskRunInput[] = [];
  // What the runner is handed (a container engine would get it as the container's env).
  const runner = withTaskSecrets(
    {
      run: async (input) => {
        seen.push(input);
        return { ok: true, results: [] };
      },
    },
    createSecretStore({ file }),
  );
  const input: TaskRunInput = {
    site: 's',
    host: 'h',
    phase: 'validate',
    bootStage: 1,
    tasks: [
      {
        name: 't',
        image: 'busybox',
        command: [],
        args: [],
        env: { TOKEN: secretPlaceholder('join-token'), MODE: 'fast' },
        timeout_s: 10,
        retries: 0,
      },
    ],
  };
  await runner.run(input);
  assert.deepEqual(seen[0]!.tasks[0]!.env, { TOKEN: 'tok-123', MODE: 'fast' });
  assert.equal(input.tasks[0]!.env.TOKEN, secretPlaceholder('join-token'));
});
