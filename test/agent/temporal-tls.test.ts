// The agent reaches Temporal through a real TLS endpoint (nginx terminating mTLS in front of the dev server), with
// the CA, client certificate and server name its config file names; a wrong CA and a missing client certificate
// are refused, and say so in its log. `vaquero agent --check` shows the endpoint as the agent would use it.
import { devCodecSettings } from '../../temporal/codec/dev-key.ts';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pino from 'pino';
import { startAgent } from '../../agent/agent.ts';
import { loadAgentConfig } from '../../agent/config.ts';
import { startDevServer } from '../../temporal/dev-server.ts';
import type { DevServer } from '../../temporal/dev-server.ts';
import { freePort } from '../../temporal/ports.ts';
import { installQuietRuntime } from '../../temporal/runtime.ts';
import { freeServerPorts } from '../../testkit/stack.ts';
import { makeTestPki, startTlsGrpcProxy } from '../../testkit/tls-proxy.ts';
import type { TestPki, TlsProxy } from '../../testkit/tls-proxy.ts';
import { waitFor } from '../../testkit/workflows.ts';

const run = promisify(execFile);
const VAQUERO = fileURLToPath(new URL('../../bin/vaquero.js', import.meta.url));

let dir: string;
let server: DevServer;
let proxy: TlsProxy;
let pki: TestPki;

before(async () => {
  installQuietRuntime();
  dir = await mkdtemp(path.join(os.tmpdir(), 'vq-agent-tls-'));
  pki = await makeTestPki(path.join(dir, 'pki'));
  server = await startDevServer({
    dataDir: path.join(dir, 'temporal'),
    ui: false,
    ports: await freeServerPorts(),
  });
  proxy = await startTlsGrpcProxy(path.join(dir, 'nginx'), pki, server.address);
});
after(async () => {
  await proxy?.stop();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function agentFile(name: string, tls: string): Promise<string> {
  const file = path.join(dir, `${name}.yml`);
  await writeFile(
    file,
    [
      `agent_id: ${name}`,
      'site: tls',
      `data_dir: ${path.join(dir, name)}`,
      'temporal:',
      `  address: "${proxy.address}"`,
      '  namespace: default',
      `  codec: ${JSON.stringify(await devCodecSettings(dir))}`,
      tls,
      'dhcp: { enabled: false }',
      'tftp: { enabled: false }',
      `http: { listen: 127.0.0.1, port: ${await freePort()} }`,
    ].join('\n'),
  );
  return file;
}

/** Starts the agent from `file` with its log captured. */
async function start(file: string) {
  const lines: { msg?: string; err?: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as never) });
  const agent = await startAgent(await loadAgentConfig(file), { logger, reconcileEveryMs: 3_600_000 });
  return { agent, lines };
}

test('mTLS with the CA, client certificate and server name of the config: the site worker polls', async () => {
  const file = await agentFile(
    'good',
    `  tls: { ca: ${pki.ca}, cert: ${pki.clientCert}, key: ${pki.clientKey}, server_name: ${pki.serverName} }`,
  );
  const { agent, lines } = await start(file);
  try {
    await waitFor(
      'the site worker polling through the TLS proxy',
      async () => agent.workerRunning() || undefined,
      {
        timeoutMs: 60_000,
      },
    );
    const polling = lines.find((l) => l.msg === 'site worker polling') as { temporal?: string } | undefined;
    assert.match(
      polling?.temporal ?? '',
      /TLS, private CA, client certificate \(mTLS\), server name temporal\.test/,
    );
  } finally {
    await agent.stop();
  }
  const check = await run(process.execPath, [VAQUERO, 'agent', '--config', file, '--check'], {
    timeout: 60_000,
  });
  assert.match(
    check.stdout,
    /Temporal: 127\.0\.0\.1:\d+ namespace default, TLS, private CA, client certificate \(mTLS\)/,
  );
  assert.match(
    check.stdout,
    /task queues: site-tls \(power, tasks\), site-tls\/agent-good \(gates, site model\)/,
  );
});

for (const [name, tls, why] of [
  [
    'wrong-ca',
    `  tls: { ca: OTHER, cert: CERT, key: KEY, server_name: NAME }`,
    'a CA that did not sign the server',
  ],
  ['no-client-cert', `  tls: { ca: CA, server_name: NAME }`, 'no client certificate'],
] as const) {
  test(`refused with ${why}: the agent keeps serving, logs it and does not poll`, async () => {
    const file = await agentFile(
      name,
      tls
        .replace('OTHER', pki.otherCa)
        .replace('CA', pki.ca)
        .replace('CERT', pki.clientCert)
        .replace('KEY', pki.clientKey)
        .replace('NAME', pki.serverName),
    );
    const { agent, lines } = await start(file);
    try {
      const refused = await waitFor(
        'the refusal in the log',
        async () => lines.find((l) => l.msg === 'Temporal unreachable'),
        { timeoutMs: 60_000 },
      );
      assert.ok(refused.err, 'the reason is logged');
      assert.equal(agent.workerRunning(), false);
      // Boot services do not depend on Temporal: the agent answers (not ready only for want of a site model).
      const health = (await (await fetch(`${agent.httpUrl}/health`)).json()) as { ok?: boolean };
      assert.equal(health.ok, true, JSON.stringify(health));
    } finally {
      await agent.stop();
    }
  });
}
