// The agent resolves a served config's secret references from its own store (a real secrets file), and names a
// reference it lacks without showing any value.
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
