// The agent's HTTP service built from its parts for a test (inject() drives it without a socket): a model cache, an
// outbox that records what it would deliver, the per-run tokens and an assets folder with a symlink out of it.
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { BootEventRecorder } from '../../../../agent/boot-event-recorder.ts';
import { CheckpointTokens } from '../../../../agent/checkpoint-token.ts';
import { EventOutbox } from '../../../../agent/event-outbox.ts';
import { buildAgentHttp } from '../../../../agent/http/app.ts';
import { ModelCache } from '../../../../agent/model-cache.ts';
import type { BootEvent } from '../../../../domain/boot-events.ts';
import { CHECKPOINT_TOKEN_PLACEHOLDER } from '../../../../sot/render.ts';

export const MAC = '52:54:00:77:01:02';

export async function setup(
  t: { after: (fn: () => Promise<void>) => void },
  extra: { upstream?: string; logger?: FastifyBaseLogger } = {},
) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-agent-http-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cache = new ModelCache(path.join(dir, 'cache'));
  await cache.load();
  const sent: { workflowId: string; event: BootEvent }[] = [];
  const outbox = new EventOutbox(path.join(dir, 'outbox'), async (workflowId, event) => {
    sent.push({ workflowId, event });
  });
  await outbox.start();
  t.after(() => outbox.stop());
  const tokens = new CheckpointTokens(Buffer.alloc(32, 7));
  const recorder = new BootEventRecorder('agent-1', cache, outbox);
  const assets = path.join(dir, 'assets');
  await mkdir(path.join(assets, 'debian'), { recursive: true });
  await writeFile(path.join(assets, 'debian', 'linux'), Buffer.from('0123456789abcdef'));
  await writeFile(path.join(dir, 'secret.txt'), 'outside the root');
  await symlink(path.join(dir, 'secret.txt'), path.join(assets, 'escape'));
  const app = await buildAgentHttp({
    agentId: 'agent-1',
    site: 'lab',
    cache,
    tokens,
    recorder,
    outbox,
    ...(extra.upstream
      ? { assetsUpstream: extra.upstream, assetsCache: path.join(dir, 'asset-cache') }
      : { assetsRoot: assets }),
    ...(extra.logger !== undefined ? { logger: extra.logger } : {}),
  });
  t.after(() => app.close());
  const open = (runId = 'run-1', stage = 1) =>
    cache.set({
      site: 'lab',
      host: 'node-02',
      mac: MAC,
      sot: 'lab',
      revision: 'dir-abc',
      fingerprint: 'sha256:x',
      bootStage: stage,
      hasConfig: true,
      open: true,
      workflowId: 'host/lab/node-02',
      runId,
      artifacts: {
        bootStage: stage,
        ipxe: `#!ipxe\nkernel http://10.77.1.1:8080/assets/debian/linux initrd=initrd.gz callback=http://10.77.1.1:8080/checkpoint/${CHECKPOINT_TOKEN_PLACEHOLDER}\nboot\n`,
        kernel: 'http://10.77.1.1:8080/assets/debian/linux',
        initrds: ['http://10.77.1.1:8080/assets/debian/initrd.gz'],
        cmdline: 'quiet',
        config: {
          type: 'cloud-config',
          contentType: 'text/cloud-config',
          text: `#cloud-config\nrun: ${CHECKPOINT_TOKEN_PLACEHOLDER}\n`,
        },
      },
    });
  return { dir, cache, outbox, sent, tokens, recorder, app, open };
}
