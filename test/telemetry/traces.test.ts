// One reprovision, one trace: `vaquero dev --agent` with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a real
// OpenTelemetry Collector (built by `vaquero setup --lab`, or here on first use), whose OTLP/HTTP exporter (JSON)
// forwards to a listener of this test; the spans asserted on have passed through the collector. The rollout of
// one host is started through the API with a W3C traceparent of the test's own, and that trace must hold, parent
// by parent and in time order: the API request → the rollout workflow → the host workflow → its activities →
// the agent's DHCP/TFTP/HTTP boot events (and the signals carrying them to the workflow).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ensureOtelCollector } from '../../cli/setup/otel-collector.ts';
import { freePort } from '../../temporal/ports.ts';
import { VAQUERO_BIN } from '../../testkit/cli.ts';
import { withTimeout } from '../../testkit/workflows.ts';

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: { key: string; value: OtlpValue }[];
}
interface Span extends OtlpSpan {
  service: string;
  attrs: Record<string, string>;
  start: bigint;
}

function flatten(body: unknown): Span[] {
  const out: Span[] = [];
  const rs = (
    body as {
      resourceSpans?: {
        resource?: { attributes?: { key: string; value: OtlpValue }[] };
        scopeSpans?: { spans?: OtlpSpan[] }[];
      }[];
    }
  ).resourceSpans;
  for (const r of rs ?? []) {
    const service = r.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
    for (const ss of r.scopeSpans ?? [])
      for (const s of ss.spans ?? []) {
        const attrs: Record<string, string> = {};
        for (const a of s.attributes ?? [])
          attrs[a.key] = String(a.value.stringValue ?? a.value.intValue ?? '');
        out.push({ ...s, service, attrs, start: BigInt(s.startTimeUnixNano) });
      }
  }
  return out;
}

test('a reprovision started through the API is one trace: request, workflows, activities, agent boot events', async (t) => {
  const collectorBin = await ensureOtelCollector((m) => t.diagnostic(m));
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-traces-'));
  t.after(() => rm(dir, { recursive: true, force: true }));

  // What the collector forwards: OTLP/HTTP JSON bodies on /v1/traces.
  const received: Span[] = [];
  const sink = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/v1/traces') received.push(...flatten(JSON.parse(Buffer.concat(chunks).toString())));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => sink.close(() => r())));
  const sinkPort = (sink.address() as AddressInfo).port;

  const otlpPort = await freePort();
  const config = path.join(dir, 'otelcol.yaml');
  await writeFile(
    config,
    [
      'receivers:',
      '  otlp:',
      '    protocols:',
      `      http: { endpoint: "127.0.0.1:${otlpPort}" }`,
      'exporters:',
      '  otlp_http:',
      `    endpoint: "http://127.0.0.1:${sinkPort}"`,
      '    encoding: json',
      '    compression: none',
      'service:',
      '  telemetry:',
      '    metrics: { level: none }',
      '    logs: { level: warn }',
      '  pipelines:',
      '    traces: { receivers: [otlp], exporters: [otlp_http] }',
      '',
    ].join('\n'),
  );
  const collector = spawn(collectorBin, ['--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let collectorOut = '';
  collector.stdout.on('data', (d: Buffer) => (collectorOut += d.toString()));
  collector.stderr.on('data', (d: Buffer) => (collectorOut += d.toString()));
  const collectorExited = new Promise<void>((r) => collector.once('exit', () => r()));
  t.after(async () => {
    if (collector.exitCode === null && collector.signalCode === null) collector.kill('SIGTERM');
    await collectorExited;
  });
  await withTimeout(
    'the collector to listen',
    (async () => {
      for (;;) {
        if (collector.exitCode !== null) throw new Error(`collector exited: ${collectorOut}`);
        const ok = await fetch(`http://127.0.0.1:${otlpPort}/v1/traces`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"resourceSpans":[]}',
        }).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) return;
        await new Promise((r) => setTimeout(r, 200));
      }
    })(),
    60_000,
  );

  // The product, through its entry point, exporting to the collector by the standard variables.
  const apiPort = await freePort();
  const dev = spawn(
    process.execPath,
    [
      VAQUERO_BIN,
      'dev',
      '--agent',
      '--data-dir',
      path.join(dir, 'data'),
      '--port',
      String(await freePort()),
      '--api-port',
      String(apiPort),
      '--sim-delays',
      '0',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: '',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${otlpPort}`,
        OTEL_SERVICE_NAME: '',
        OTEL_SDK_DISABLED: '',
        OTEL_BSP_SCHEDULE_DELAY: '200',
      },
    },
  );
  let out = '';
  dev.stdout.on('data', (d: Buffer) => (out += d.toString()));
  dev.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const devExited = new Promise<number | null>((r) => dev.once('exit', (code) => r(code)));
  t.after(async () => {
    if (dev.exitCode === null && dev.signalCode === null) {
      dev.kill('SIGINT');
      await Promise.race([devExited, new Promise((r) => setTimeout(r, 30_000))]);
      if (dev.exitCode === null && dev.signalCode === null) dev.kill('SIGKILL');
    }
  });
  const line = (re: RegExp) =>
    withTimeout(
      `vaquero dev to print ${re}`,
      (async () => {
        for (;;) {
          const m = re.exec(out);
          if (m) return m;
          if (dev.exitCode !== null) throw new Error(`vaquero dev exited: ${out}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      })(),
      300_000,
    );
  const api = await line(/^API (http:\/\/127\.0\.0\.1:\d+) \(OpenAPI UI \S+; operate token in (\S+)\)$/m);
  assert.match(out, /traces: vaquero-dev → http:\/\/127\.0\.0\.1:\d+\/v1\/traces/);
  const token = (await readFile(api[2]!, 'utf8')).trim();
  await line(/stack running/);

  // The caller's own trace: the request must join it.
  const traceId = randomBytes(16).toString('hex');
  const callerSpan = randomBytes(8).toString('hex');
  const host = 'node-01';
  const r = await fetch(`${api[1]}/rollouts`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      traceparent: `00-${traceId}-${callerSpan}-01`,
    },
    body: JSON.stringify({ sot: 'lab', force: true, only: [`lab/${host}`] }),
  });
  const started = (await r.json()) as { workflowId: string; revision: string; started: boolean };
  assert.equal(r.status, 201, JSON.stringify(started));
  await withTimeout(
    'the rollout to complete',
    (async () => {
      for (;;) {
        const d = (await (
          await fetch(`${api[1]}/rollouts/lab/${started.revision}`, {
            headers: { authorization: `Bearer ${token}` },
          })
        ).json()) as { state?: string };
        if (d.state === 'completed') return;
        if (d.state && /failed|aborted|cancelled|terminated|superseded|timed_out/.test(d.state))
          throw new Error(`rollout ${d.state}`);
        await new Promise((res) => setTimeout(res, 250));
      }
    })(),
    180_000,
  );
  // Stopping flushes what the process still holds; then the collector forwards it.
  dev.kill('SIGINT');
  await withTimeout('vaquero dev to stop', devExited, 60_000);
  assert.match(out, /vaquero dev: stopping/);

  const inTrace = () => received.filter((s) => s.traceId === traceId);
  const names = () => new Set(inTrace().map((s) => s.name));
  await withTimeout(
    'the collector to forward the trace',
    (async () => {
      for (;;) {
        const n = names();
        if (
          n.has('POST /rollouts') &&
          n.has('RunWorkflow:rollout') &&
          n.has('RunWorkflow:hostReprovision') &&
          [...n].some((x) => x.startsWith('boot '))
        )
          return;
        await new Promise((res) => setTimeout(res, 250));
      }
    })(),
    60_000,
  );
  // Whatever is still on its way through the collector.
  collector.kill('SIGTERM');
  await withTimeout('the collector to stop', collectorExited, 30_000);

  const spans = inTrace();
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const one = (name: string, where: (s: Span) => boolean = () => true) => {
    const found = spans.filter((s) => s.name === name && where(s));
    assert.equal(found.length, 1, `one ${name} in the trace: ${found.length} (${[...names()].join(', ')})`);
    return found[0]!;
  };
  // Every span of the trace hangs off the caller's span, through parents that are all in the trace.
  for (const s of spans) {
    if (s.parentSpanId === callerSpan) continue;
    const parent = byId.get(s.parentSpanId ?? '');
    assert.ok(parent, `${s.name}: its parent ${s.parentSpanId} is in the trace`);
    assert.ok(s.start >= parent.start, `${s.name} starts after its parent ${parent.name}`);
  }
  const isUnder = (s: Span, ancestor: Span): boolean => {
    for (let p = byId.get(s.parentSpanId ?? ''); p; p = byId.get(p.parentSpanId ?? ''))
      if (p.spanId === ancestor.spanId) return true;
    return false;
  };

  const request = one('POST /rollouts');
  assert.equal(request.parentSpanId, callerSpan, 'the request continues the caller’s traceparent');
  assert.equal(request.service, 'vaquero-dev');
  assert.equal(request.attrs['http.response.status_code'], '201');
  const startRollout = one('StartWorkflow:rollout');
  assert.equal(startRollout.parentSpanId, request.spanId);
  const rollout = one('RunWorkflow:rollout');
  assert.equal(rollout.parentSpanId, startRollout.spanId);
  assert.equal(rollout.attrs.workflowId, started.workflowId);
  const startHost = one('StartChildWorkflow:hostReprovision');
  assert.ok(isUnder(startHost, rollout));
  // One reprovision: one host workflow, the one asked for.
  const hostRun = one('RunWorkflow:hostReprovision');
  assert.equal(hostRun.parentSpanId, startHost.spanId);
  assert.equal(hostRun.attrs.workflowId, `host/lab/${host}`);
  const hostRunId = hostRun.attrs.runId!;
  // Its activities, each under the workflow's StartActivity, in the order the workflow runs them.
  const activity = (name: string) => {
    const run = spans.filter((s) => s.name === `RunActivity:${name}` && s.attrs.run_id === hostRunId);
    assert.ok(run.length > 0, `RunActivity:${name} of the host run (${[...names()].join(', ')})`);
    for (const a of run) assert.ok(isUnder(a, hostRun), `${a.name} is under the host workflow`);
    return run.sort((a, b) => (a.start < b.start ? -1 : 1))[0]!;
  };
  const plan = activity('loadHostPlan');
  const power = activity('powerCycleToNetwork');
  const tasks = activity('runTasks');
  assert.ok(plan.start <= power.start && power.start <= tasks.start, 'plan, then power, then tasks');
  // Nothing this host run or this rollout run did went to another trace (reads of their state, the queries the
  // API and the fleet index make, are their callers' own traces).
  const read = /^(QueryWorkflow|HandleQuery|DescribeWorkflow):/;
  for (const s of received) {
    if (read.test(s.name)) continue;
    if (s.attrs.run_id === hostRunId || s.attrs.runId === hostRunId || s.attrs.runId === rollout.attrs.runId)
      assert.equal(s.traceId, traceId, `${s.name} of this reprovision is in its trace`);
  }

  // The agent's boot events: under the activity that opened the host's gate, in boot order.
  const boots = spans.filter((s) => s.name.startsWith('boot ')).sort((a, b) => (a.start < b.start ? -1 : 1));
  const kinds = boots.map((s) => s.attrs['vaquero.boot_event.kind']);
  for (const k of ['dhcp', 'tftp', 'ipxe', 'kernel', 'config', 'checkpoint'])
    assert.ok(kinds.includes(k), `a boot ${k} span (${kinds.join(', ')})`);
  const firstOf = (k: string) => kinds.indexOf(k);
  assert.ok(
    firstOf('dhcp') < firstOf('tftp') &&
      firstOf('tftp') < firstOf('ipxe') &&
      firstOf('ipxe') < firstOf('kernel') &&
      firstOf('kernel') < firstOf('config') &&
      firstOf('config') < firstOf('checkpoint'),
    `boot order: ${kinds.join(', ')}`,
  );
  for (const b of boots) {
    const opener = byId.get(b.parentSpanId ?? '')!;
    assert.match(opener.name, /^RunActivity:(powerCycleToNetwork|setNetbootGate)$/, b.name);
    assert.ok(isUnder(b, hostRun));
    assert.equal(b.attrs['vaquero.workflow_id'], `host/lab/${host}`);
  }
  // The signals carrying them, and the workflow's handling of each, are in the trace too.
  const handled = spans.filter((s) => s.name.startsWith('HandleSignal:bootEvent'));
  assert.ok(handled.length > 0, `HandleSignal:bootEvent(s) (${[...names()].join(', ')})`);
  for (const h of handled) assert.ok(isUnder(h, hostRun), `${h.name} is under the host workflow`);
  t.diagnostic(`${spans.length} spans in the trace; boot events: ${kinds.join(', ')}`);
});
