// A host whose stage boots through GRUB, served by the agent's TFTP service as Debian's signed chain asks for it
// (LAB.md §9.4): shim and grubx64.efi from the TFTP root, then grub/grub.cfg (the bootstrap), the host's own
// grub/hosts/<mac>.cfg, and its kernel and initrd from the assets root. Through the product entry
// (startAgent(loadAgentConfig(file))), a real TFTP client (curl) on loopback and a real Temporal dev server
// whose history must hold the boot steps: the config fetch as the script step, then kernel and initrd, as over HTTP.
// The host's config goes to that host only; another address gets nothing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import pino from 'pino';
import { defaultPayloadConverter } from '@temporalio/common';
import { startAgent } from '../../agent/agent.ts';
import type { RunningAgent } from '../../agent/agent.ts';
import { loadAgentConfig } from '../../agent/config.ts';
import type { BootEvent } from '../../domain/boot-events.ts';
import { bootEventSignal, bootEventsSignal } from '../../domain/workflow-api.ts';
import { GRUB_BOOTSTRAP } from '../../sot/grub-config.ts';
import { CHECKPOINT_TOKEN_PLACEHOLDER } from '../../sot/render.ts';
import { freePort } from '../../temporal/ports.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import { openGate } from './support/open-gate.ts';

const run = promisify(execFile);
const MAC = '52:54:00:5e:f1:01';
const WORKFLOW_ID = 'host/grub/h1';
/** Debian's signed files (shim-signed, grub-efi-amd64-signed; `npm run setup` installs them). */
const SHIM = '/usr/lib/shim/shimx64.efi.signed';
const GRUB = '/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed';
const GRUB_CONFIG = [
  '# vaquero: host h1, stage 1 (b)',
  'linux (tftp,127.0.0.1)/assets/tiny/linux quiet callback=http://127.0.0.1:8080/checkpoint/__VAQUERO_CHECKPOINT_TOKEN__',
  'initrd (tftp,127.0.0.1)/assets/tiny/initrd.gz',
  'boot',
  '',
].join('\n');

let stack: TestStack;
let agent: RunningAgent;
let dir: string;
let tftpPort: number;
/** The run whose gate the first test opened (the second closes that run's gate). */
let openRunId = '';

before(async () => {
  for (const f of [SHIM, GRUB]) assert.ok(existsSync(f), `${f} missing: npm run setup installs it`);
  stack = await startTestStack({ name: 'grub-tftp', control: false, codec: { off: true } });
  dir = await mkdtemp(path.join(os.tmpdir(), 'vq-grub-'));
  const root = path.join(dir, 'tftp');
  const assets = path.join(dir, 'assets');
  await mkdir(root);
  await mkdir(path.join(assets, 'tiny'), { recursive: true });
  // What an operator puts in the TFTP root for GRUB hosts: shim, and GRUB under the name shim loads.
  await copyFile(SHIM, path.join(root, 'shimx64.efi'));
  await copyFile(GRUB, path.join(root, 'grubx64.efi'));
  await writeFile(path.join(assets, 'tiny', 'linux'), 'kernel-bytes');
  await writeFile(path.join(assets, 'tiny', 'initrd.gz'), 'initrd-bytes');
  await writeFile(path.join(assets, 'tiny', 'other'), 'not this stage');
  tftpPort = await freePort();
  const file = path.join(dir, 'agent.yml');
  await writeFile(
    file,
    [
      'agent_id: grub-agent',
      'site: grub',
      `data_dir: ${path.join(dir, 'data')}`,
      `temporal: { address: ${stack.address}, namespace: ${stack.namespace}, codec: ${JSON.stringify(stack.temporal.codec.settings)} }`,
      'dhcp: { enabled: false }',
      `tftp: { enabled: true, root: ${root}, port: ${tftpPort} }`,
      `http: { listen: 127.0.0.1, port: ${await freePort()} }`,
      `assets: { root: ${assets} }`,
      'log_level: warn',
    ].join('\n'),
  );
  agent = await startAgent(await loadAgentConfig(file), { logger: pino({ level: 'silent' }) });
});

after(async () => {
  await agent?.stop();
  await stack?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function eventsIn(runId: string): Promise<BootEvent[]> {
  const h = await stack.client.workflow.getHandle(WORKFLOW_ID, runId).fetchHistory();
  const out: BootEvent[] = [];
  for (const e of h.events ?? []) {
    const a = e.workflowExecutionSignaledEventAttributes;
    if (a?.signalName !== bootEventSignal.name && a?.signalName !== bootEventsSignal.name) continue;
    const payload = a.input?.payloads?.[0];
    if (!payload) continue;
    const decoded = defaultPayloadConverter.fromPayload<BootEvent | BootEvent[]>(payload);
    out.push(...(Array.isArray(decoded) ? decoded : [decoded]));
  }
  return out;
}

async function settled(): Promise<void> {
  for (let i = 0; i < 400 && agent.outbox.stats().queued > 0; i++)
    await new Promise((r) => setTimeout(r, 50));
  assert.equal(agent.outbox.stats().queued, 0, 'the outbox emptied');
}

/** curl's TFTP get from `from` (a loopback address); the file's bytes, or the client's exit and error text. */
async function tftpGet(name: string, from = '127.0.0.1'): Promise<{ data?: Buffer; error?: string }> {
  const out = path.join(dir, 'got');
  await rm(out, { force: true });
  // A leading slash kept in the URL's path (curl drops the first), as GRUB sends its names.
  const url = `tftp://127.0.0.1:${tftpPort}/${name}`;
  const r = await run('curl', ['-sS', '--interface', from, '-o', out, url], { timeout: 30_000 }).then(
    () => undefined,
    (e: { code?: number; stderr: string }) => `exit ${e.code}: ${e.stderr}`,
  );
  // curl exits 68 for a TFTP "file not found".
  if (r !== undefined || !existsSync(out)) return { error: r ?? 'no file' };
  return { data: await readFile(out) };
}

test('a GRUB host fetches the signed chain, the bootstrap, its own config, kernel and initrd over TFTP', async () => {
  const wf = await stack.client.workflow.start('noWorkerPollsThis', {
    workflowId: WORKFLOW_ID,
    taskQueue: 'nobody-polls-this',
  });
  const runId = wf.firstExecutionRunId;
  openRunId = runId;
  await agent.cache.set(
    openGate({
      site: 'grub',
      host: 'h1',
      mac: MAC,
      workflowId: WORKFLOW_ID,
      runId,
      artifacts: {
        bootStage: 1,
        ipxe: '#!ipxe\n',
        kernel: 'http://127.0.0.1:8080/assets/tiny/linux',
        initrds: ['http://127.0.0.1:8080/assets/tiny/initrd.gz'],
        cmdline: 'quiet',
        loader: 'grub',
        grub: GRUB_CONFIG,
      },
    }),
  );
  // What the agent's DHCP server does when it gives the host its address: requests from there are the host's.
  agent.recorder.bind('127.0.0.1', MAC);

  assert.deepEqual((await tftpGet('shimx64.efi')).data, await readFile(SHIM));
  assert.deepEqual((await tftpGet('grubx64.efi')).data, await readFile(GRUB));
  // GRUB asks with a leading slash, under its prefix.
  assert.equal((await tftpGet('/grub/grub.cfg')).data?.toString(), GRUB_BOOTSTRAP);
  // The run's checkpoint token where the rendered config holds its placeholder, as in an iPXE script.
  const served = (await tftpGet(`/grub/hosts/${MAC}.cfg`)).data?.toString() ?? '';
  const token = agent.tokens.tokenFor(WORKFLOW_ID, runId, 1);
  assert.equal(served, GRUB_CONFIG.replace(CHECKPOINT_TOKEN_PLACEHOLDER, token));
  assert.equal((await tftpGet('/assets/tiny/linux')).data?.toString(), 'kernel-bytes');
  assert.equal((await tftpGet('/assets/tiny/initrd.gz')).data?.toString(), 'initrd-bytes');
  // Only this stage's kernel and initrds: the assets root is not browsable over TFTP.
  assert.match((await tftpGet('/assets/tiny/other')).error ?? '', /exit 68/);
  // Another host's config name, from this host's address: refused.
  assert.match((await tftpGet('/grub/hosts/52:54:00:5e:f1:99.cfg')).error ?? '', /exit 68/);
  await settled();

  const events = await eventsIn(runId);
  const steps = events.filter((e) => e.kind !== 'refused').map((e) => `${e.kind} ${e.detail ?? ''}`);
  assert.deepEqual(
    steps.filter((s) => !s.startsWith('tftp ')),
    [
      `ipxe GRUB over TFTP: grub/hosts/${MAC}.cfg sent (${served.length} bytes)`,
      'kernel GRUB over TFTP: assets/tiny/linux sent (12 bytes)',
      'initrd GRUB over TFTP: assets/tiny/initrd.gz sent (12 bytes)',
    ],
  );
  assert.ok(steps.some((s) => /^tftp TFTP shimx64\.efi sent/.test(s)));
  assert.ok(events.every((e) => e.mac === MAC && e.runId === runId));
  await wf.terminate('done');
});

test("a GRUB host's config is served to nobody else, and to nobody once its gate closes", async () => {
  // 127.0.0.2 is bound to no MAC: it names the host's config and is not the host.
  const other = await tftpGet(`/grub/hosts/${MAC}.cfg`, '127.0.0.2');
  assert.ok(other.error, 'refused to another address');
  await agent.cache.set(openGate({ site: 'grub', host: 'h1', mac: MAC, runId: openRunId, open: false }));
  assert.match((await tftpGet(`/grub/hosts/${MAC}.cfg`)).error ?? '', /exit 68/);
  // The bootstrap is the same for everyone: it names no host.
  assert.equal((await tftpGet('/grub/grub.cfg', '127.0.0.2')).data?.toString(), GRUB_BOOTSTRAP);
});
