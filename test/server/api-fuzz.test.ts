// The API under a schema-driven fuzzer: schemathesis (PyPI, installed by `npm run setup`) reads the server's own
// OpenAPI document and sends valid and invalid requests to every operation, with a read token and with an operate
// token; no answer may be a 5xx or break the document's response schemas. The server is `vaquero server` as its
// config starts it (startServer: embedded Temporal, control worker, a folder SoT). Bounded by examples and time.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { schemathesisPath } from '../../cli/setup/python-tools.ts';
import { startServer } from '../../server/main.ts';
import type { RunningServer } from '../../server/main.ts';
import { writeSot } from '../../testkit/sot.ts';
import { OPERATE_TOKEN, READ_TOKEN, testConfig } from './support/harness.ts';

const run = promisify(execFile);
let server: RunningServer;
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vq-fuzz-'));
  const sot = await writeSot(
    {
      sot: 'fuzzsot',
      site: 'fuzz',
      workflows: { one: { boots: ['quick'] } },
      hosts: [
        { name: 'h1', workflow: 'one' },
        { name: 'h2', workflow: 'one', never_provision: true },
      ],
    },
    dir,
  );
  server = await startServer(
    await testConfig({
      dataDir: path.join(dir, 'data'),
      controlWorker: true,
      sots: [{ name: 'fuzzsot', kind: 'dir', path: sot.dir, watch: false, autoRollout: false }],
    }),
    { env: { ...process.env, TEMPORAL_ADDRESS: '' }, log: () => undefined },
  );
});
after(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Report {
  failures: string[];
  /** Operations tested, and requests generated, as its summary says. */
  tested: number;
  generated: number;
}

/** Runs schemathesis with `token`; returns the failed checks it reports (empty when none). */
async function fuzz(token: string, name: string): Promise<Report> {
  const reportDir = path.join(dir, `report-${name}`);
  const args = [
    'run',
    `${server.url}/docs/json`,
    '--url',
    server.url,
    '-H',
    `Authorization: Bearer ${token}`,
    '--checks',
    'not_a_server_error,response_schema_conformance',
    '--phases',
    'examples,coverage,fuzzing',
    '--max-examples',
    '25',
    '--max-time',
    process.env.VAQUERO_FUZZ_SECONDS ?? '60',
    '--request-timeout',
    '20',
    '--seed',
    '20261203',
    // One worker: with several, hypothesis (under CPython 3.11) can crash inside its own lambda descriptions
    // ("AST constructor recursion depth mismatch"), an error of the fuzzer, not of the API.
    '--workers',
    '1',
    // The event stream never ends: it is a long poll, not a request/response operation.
    '--exclude-path',
    '/events',
    '--report',
    'ndjson',
    '--report-dir',
    reportDir,
  ];
  // In the test's folder: schemathesis keeps a .schemathesis cache where it runs.
  const r = await run(schemathesisPath(), args, { cwd: dir, timeout: 400_000, maxBuffer: 64 * 2 ** 20 }).then(
    (x) => ({ code: 0, out: x.stdout }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: e.code ?? -1,
      out: `${e.stdout ?? ''}\n${e.stderr ?? ''}`,
    }),
  );
  if (process.env.VAQUERO_FUZZ_SHOW) console.log(r.out);
  const tested = Number(/^\s*Tested: (\d+)/m.exec(r.out)?.[1] ?? 0);
  const generated = Number(/^\s*(\d+) generated/m.exec(r.out)?.[1] ?? 0);
  // Exit 0 is schemathesis' verdict that no check failed; the output names what did otherwise.
  return { failures: r.code === 0 ? [] : [r.out.slice(-8000)], tested, generated };
}

test('schemathesis with a read token: no 5xx, no answer outside the documented schemas', async () => {
  const r = await fuzz(READ_TOKEN, 'read');
  assert.deepEqual(r.failures, []);
  assert.ok(r.tested >= 15 && r.generated >= 100, `tested ${r.tested} operations, ${r.generated} requests`);
});

test('schemathesis with an operate token: no 5xx, no answer outside the documented schemas', async () => {
  const r = await fuzz(OPERATE_TOKEN, 'operate');
  assert.deepEqual(r.failures, []);
  assert.ok(r.tested >= 15 && r.generated >= 100, `tested ${r.tested} operations, ${r.generated} requests`);
});
