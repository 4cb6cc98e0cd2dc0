// Two agents of a broadcast domain: the SoT renders a host's artifacts with the first agent's URL; the second,
// serving the host (it answered first, or the first is down), serves them under its own URL, so kernel, config and
// checkpoint come to it, and maps its URL back in the command line the host reports, so the workflow compares
// with exactly what the SoT rendered. The agent is started from its config file (startAgent, as `vaquero agent`).
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { startAgent } from '../../../agent/agent.ts';
import { loadAgentConfig } from '../../../agent/config.ts';
import { CHECKPOINT_TOKEN_PLACEHOLDER } from '../../../sot/render.ts';
import { freePort } from '../../../temporal/ports.ts';

const MAC = '52:54:00:aa:00:07';
const FIRST = 'http://10.20.0.2:8080';

test('the second agent serves a host under its own URL and reports its command line as rendered', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-served-base-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  const own = `http://127.0.0.1:${port}`;
  const file = path.join(dir, 'agent.yml');
  await writeFile(
    file,
    [
      'agent_id: second',
      'site: lab',
      `data_dir: ${path.join(dir, 'data')}`,
      'temporal: { address: "127.0.0.1:1", codec: { off: true } }', // never reached
      'dhcp: { enabled: false }',
      'tftp: { enabled: false }',
      `http: { listen: 127.0.0.1, port: ${port}, public_url: "${own}" }`,
    ].join('\n'),
  );
  const agent = await startAgent(await loadAgentConfig(file), {
    logger: pino({ level: 'silent' }),
    reconcileEveryMs: 3_600_000,
  });
  t.after(() => agent.stop());
  await agent.cache.setSiteModel({
    sot: 's',
    revision: 'r1',
    site: 'lab',
    httpUrl: FIRST,
    dhcpMode: 'server',
    agents: [
      { id: 'first', httpUrl: FIRST, dhcpMode: 'server' },
      { id: 'second', httpUrl: own, dhcpMode: 'server' },
    ],
    subnets: [
      { id: 'prov', cidr: '10.20.0.0/16', netmask: '255.255.0.0', dns: [], ntp: [], dhcpOptions: [] },
    ],
    reservations: [{ host: 'h7', mac: MAC, ipv4: '10.20.1.17', subnet: 'prov' }],
  });
  const cmdline = `console=ttyS0 url=${FIRST}/config/${MAC}?stage=1 done=${FIRST}/checkpoint/${CHECKPOINT_TOKEN_PLACEHOLDER} mirror=http://10.20.0.2:80801/x`;
  const gate = {
    site: 'lab',
    host: 'h7',
    mac: MAC,
    sot: 's',
    revision: 'r1',
    fingerprint: 'f',
    bootStage: 1,
    hasConfig: true,
    open: true,
    workflowId: 'host/lab/h7',
    runId: 'run-7',
    subnet: 'prov',
    artifacts: {
      bootStage: 1,
      ipxe: `#!ipxe\nkernel ${FIRST}/assets/tiny/linux ${cmdline}\ninitrd ${FIRST}/assets/tiny/initrd\nboot\n`,
      kernel: `${FIRST}/assets/tiny/linux`,
      initrds: [`${FIRST}/assets/tiny/initrd`],
      cmdline,
      config: {
        type: 'cloud-config',
        contentType: 'text/yaml',
        text: `phone_home: ${FIRST}/checkpoint/${CHECKPOINT_TOKEN_PLACEHOLDER}\n`,
      },
    },
  };
  await agent.cache.set(gate);
  const credential = agent.tokens.bootCredential(gate);
  const token = agent.tokens.tokenFor(gate.workflowId, gate.runId, 1);

  const script = await (await fetch(`${own}/ipxe?mac=${MAC}&boot=${credential}`)).text();
  assert.ok(!script.includes(FIRST + '/'), script);
  assert.match(script, new RegExp(`kernel ${own}/assets/tiny/linux console=ttyS0 url=${own}/config/`));
  assert.ok(script.includes(`done=${own}/checkpoint/${token}`), script);
  // A longer URL that merely starts like the first agent's is not a URL of it.
  assert.ok(script.includes('mirror=http://10.20.0.2:80801/x'), script);
  const config = await (await fetch(`${own}/config/${MAC}?stage=1&boot=${credential}`)).text();
  assert.equal(config, `phone_home: ${own}/checkpoint/${token}\n`);

  // A failed fetch sends iPXE back to DHCP (sot/ipxe-script.ts withBootRetry): after the command line, which
  // iPXE hands the kernel without it.
  assert.match(script, / \|\| goto vaquero_retry\n/);
  assert.match(script, /^chain --replace --autofree \$\{filename\} \|\| goto vaquero_retry$/m);

  // The installed OS reports what it booted with: as served, under this agent's URL and with the real token.
  const kernelLine = script.split('\n').find((l) => l.startsWith('kernel '))!;
  const booted = kernelLine.split(' || ')[0]!.replace(/^kernel \S+ /, '');
  assert.equal(
    booted,
    `console=ttyS0 url=${own}/config/${MAC}?stage=1 done=${own}/checkpoint/${token} mirror=http://10.20.0.2:80801/x`,
  );
  const r = await fetch(`${own}/checkpoint/${token}?cmdline=${encodeURIComponent(booted)}`);
  assert.equal(r.status, 200);
  // The event the workflow gets (queued in the outbox: Temporal is not there) carries the command line as rendered.
  const outbox = path.join(dir, 'data', 'outbox');
  let text = '';
  for (let i = 0; i < 100 && !text.includes('checkpoint'); i++) {
    text = (
      await Promise.all((await readdir(outbox)).map((f) => readFile(path.join(outbox, f), 'utf8')))
    ).join('');
    if (!text.includes('checkpoint')) await new Promise((res) => setTimeout(res, 20));
  }
  const event = text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { event?: { kind: string; detail?: string } })
    .map((l) => l.event)
    .find((e) => e?.kind === 'checkpoint');
  assert.ok(event, text);
  assert.equal(event.detail?.split('; cmdline=')[1], cmdline);
});
