// Nothing of a rendered config is readable in workflow history: a rollout whose template carries a secret, every
// history dumped with the `temporal` CLI, searched for the secret and the config. With the codec off the same
// search finds them (so a pass means the codec hid them, not that the search is blind). A key rotation keeps
// the old histories readable to workers and clients.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { secretPlaceholder } from '../../../domain/secret.ts';
import { connectTemporal } from '../../../temporal/connection.ts';
import { installQuietRuntime } from '../../../temporal/runtime.ts';
import { startWorkerStack } from '../../../workers/stack.ts';
import { dumpHistories, historiesContaining } from '../../../testkit/history-dump.ts';
import { CONFIG_MARK, writeSecretSot } from '../../../testkit/secret-sot.ts';
import type { SecretSot } from '../../../testkit/secret-sot.ts';
import { FAST_SIM_DELAYS, startTestStack } from '../../../testkit/stack.ts';
import type { TestStack } from '../../../testkit/stack.ts';
import { hostStatus, rolloutResult, startRollout } from '../../../testkit/workflows.ts';
import type { CodecSettings } from '../../../temporal/codec/codec-settings.ts';

installQuietRuntime();
const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-codec-history-'));
after(() => rm(dir, { recursive: true, force: true }));

async function rollOut(stack: TestStack, name: string): Promise<SecretSot> {
  const sot = await writeSecretSot(name, dir);
  const site = await stack.startSimSite(sot.site);
  try {
    const r = await startRollout(stack.client, sot);
    const result = await rolloutResult(stack.client, r.workflowId);
    assert.equal(result.state, 'completed', JSON.stringify(result));
  } finally {
    await site.stop();
  }
  return sot;
}

async function withStack<T>(name: string, codec: CodecSettings | undefined, f: (s: TestStack) => Promise<T>) {
  const stack = await startTestStack({ name, ...(codec ? { codec } : {}) });
  try {
    return await f(stack);
  } finally {
    await stack.close();
  }
}

test('with the codec on (the default), no history holds the secret or the rendered config', async () => {
  await withStack('codec-on', undefined, async (stack) => {
    assert.ok('keys' in stack.codec, 'the test stack encrypts by default');
    const { secret } = await rollOut(stack, 'encon');
    const dump = await dumpHistories(stack.client, stack);
    assert.ok(dump.size >= 3, `rollout and host histories dumped (${dump.size})`);
    assert.deepEqual(historiesContaining(dump, [secret, CONFIG_MARK]), []);
    // The search reads payloads: it finds the codec's own marking in them.
    assert.ok(historiesContaining(dump, ['binary/encrypted']).length >= 3);
  });
});

test('with the codec off, the same search finds the secret (the check can fail)', async () => {
  await withStack('codec-off', { off: true }, async (stack) => {
    const { secret } = await rollOut(stack, 'encoff');
    const hits = historiesContaining(await dumpHistories(stack.client, stack), [secret, CONFIG_MARK]);
    assert.ok(
      hits.some((h) => h.startsWith('host/encoff/')),
      `hits: ${hits.join(', ')}`,
    );
    // A template that names its secret (`| secret`) puts only the reference in history, even in clear.
    const ref = await writeSecretSot('encoffref', dir);
    await writeFile(
      path.join(ref.dir, 'assets', 'cloud-config', 'install.yml'),
      '#cloud-config\ntoken: "{{ "join-token" | secret }}"\nruncmd:\n  - curl -fsS {{ urls.checkpoint }}\n',
    );
    const site = await stack.startSimSite(ref.site);
    try {
      const r = await startRollout(stack.client, ref);
      assert.equal((await rolloutResult(stack.client, r.workflowId)).state, 'completed');
    } finally {
      await site.stop();
    }
    const withRef = historiesContaining(await dumpHistories(stack.client, stack), [
      secretPlaceholder('join-token'),
    ]);
    assert.ok(
      withRef.some((h) => h.startsWith('host/encoffref/')),
      `hits: ${withRef.join(', ')}`,
    );
  });
});

test('key rotation: after k2 becomes current, histories written under k1 still replay and decode', async () => {
  const k1 = path.join(dir, 'k1');
  const k2 = path.join(dir, 'k2');
  await writeFile(k1, randomBytes(32).toString('hex'), { mode: 0o600 });
  await writeFile(k2, randomBytes(32).toString('hex'), { mode: 0o600 });
  await withStack('codec-rotate', { keys: [{ id: 'k1', file: k1 }] }, async (stack) => {
    const old = await rollOut(stack, 'rotold');
    // The stack's own workers stop: only workers holding [k2, k1] are left to replay.
    await stack.control?.stop();
    const env = { ...process.env, TEMPORAL_ADDRESS: stack.address, TEMPORAL_NAMESPACE: stack.namespace };
    const only = (keys: CodecSettings) => connectTemporal({ dataDir: path.join(dir, 'x'), env, codec: keys });
    const rotated = await only({
      keys: [
        { id: 'k2', file: k2 },
        { id: 'k1', file: k1 },
      ],
    });
    try {
      const workers = await startWorkerStack({
        connection: await rotated.nativeConnection(),
        client: rotated.client,
        dataConverter: rotated.dataConverter,
        namespace: rotated.namespace,
        dataDir: stack.dataDir,
        control: true,
        simSites: [],
        simDelays: FAST_SIM_DELAYS,
      });
      try {
        // A query on a closed workflow replays its whole history (k1 payloads) on the new worker.
        const s = await hostStatus(rotated.client, old.site, 'h1');
        assert.equal(s.state, 'provisioned');
        // New work is written under k2 …
        const sot = await writeSecretSot('rotnew', dir);
        const site = await startWorkerStack({
          connection: await rotated.nativeConnection(),
          client: rotated.client,
          dataConverter: rotated.dataConverter,
          namespace: rotated.namespace,
          dataDir: stack.dataDir,
          control: false,
          simSites: [sot.site],
          simDelays: FAST_SIM_DELAYS,
        });
        try {
          const r = await startRollout(rotated.client, sot);
          assert.equal((await rolloutResult(rotated.client, r.workflowId)).state, 'completed');
        } finally {
          await site.stop();
        }
        // … which a client holding k1 only cannot read, and says why.
        const k1Only = await only({ keys: [{ id: 'k1', file: k1 }] });
        try {
          await assert.rejects(
            hostStatus(k1Only.client, 'rotnew', 'h1'),
            /payload encrypted with key k2, not in keys \[k1\]/,
          );
        } finally {
          await k1Only.close();
        }
      } finally {
        await workers.stop();
      }
    } finally {
      await rotated.close();
    }
  });
});
