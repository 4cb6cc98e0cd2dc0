// The replay corpus (written before payloads were encrypted) replays on a worker that has the codec: payloads
// without its encoding pass through, so workers that encrypt keep running the workflows started before them.
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AesGcmCodec } from '../../../temporal/codec/aes-gcm-codec.ts';
import { installQuietRuntime } from '../../../temporal/runtime.ts';
import { WORKFLOWS_PATH } from '../../../workers/workflow-bundle.ts';

const HISTORIES_DIR = fileURLToPath(new URL('../../fixtures/histories', import.meta.url));

test('every saved history replays on a worker with the payload codec', async () => {
  installQuietRuntime();
  const files = (await readdir(HISTORIES_DIR)).filter((f) => f.endsWith('.json')).sort();
  assert.ok(files.length > 10, `${files.length} saved histories`);
  const histories = await Promise.all(
    files.map(async (file) => {
      const saved = JSON.parse(await readFile(path.join(HISTORIES_DIR, file), 'utf8')) as {
        workflowId: string;
        history: unknown;
      };
      return { workflowId: saved.workflowId, history: historyFromJSON(saved.history), file };
    }),
  );
  const codec = new AesGcmCodec([{ id: 'k1', key: randomBytes(32) }]);
  const results: string[] = [];
  for await (const r of Worker.runReplayHistories(
    {
      workflowsPath: WORKFLOWS_PATH,
      replayName: 'vaquero-replay-codec',
      dataConverter: { payloadCodecs: [codec] },
    },
    histories.map(({ workflowId, history }) => ({ workflowId, history })),
  )) {
    results.push(r.error ? `${r.workflowId}: ${r.error.name}: ${r.error.message}` : 'ok');
  }
  assert.deepEqual(
    results.map((r, i) => (r === 'ok' ? 'ok' : `${histories[i]!.file}: ${r}`)),
    histories.map(() => 'ok'),
  );
});
