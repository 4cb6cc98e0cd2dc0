// REST API latency under load, measured with autocannon on 127.0.0.1:
//   GET /hosts at 10,000 hosts (the whole fleet in one page, the default page, a filtered page), served from the
//   replica's index (filled directly with 10,000 rows, as a full visibility sync would);
//   GET /hosts/:site/:host, answered by the host workflow's query on a real Temporal dev server with the control
//   worker (a running host, kept in the worker's cache, and a provisioned one, whose history is replayed).
//   node --import tsx bench/api-hosts.ts [--duration SECONDS] [--connections N] [--json FILE]
// Bounded: each run lasts --duration seconds (default 10), then everything started here is stopped. autocannon
// runs as its own process, so the load generator does not share the server's event loop.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs, promisify } from 'node:util';
import { buildApp } from '../server/app.ts';
import type { ServerConfig } from '../server/config.ts';
import { FleetIndex } from '../server/fleet-index.ts';
import type { HostRun } from '../server/fleet-index.ts';
import { FleetSync } from '../server/fleet-sync.ts';
import { createMetrics } from '../server/metrics.ts';
import { writeSot } from '../testkit/sot.ts';
import { startTestStack } from '../testkit/stack.ts';
import { startRollout, waitFor } from '../testkit/workflows.ts';
import { hostStatusQuery, hostWorkflowId } from '../domain/workflow-api.ts';

interface Histogram {
  p50: number;
  p90: number;
  p99: number;
  average: number;
  max: number;
}
interface CannonResult {
  latency: Histogram;
  requests: { average: number; total: number };
  errors: number;
  non2xx: number;
}
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
const execFileP = promisify(execFile);

async function autocannon(opts: {
  url: string;
  connections: number;
  duration: number;
  token: string;
}): Promise<CannonResult> {
  const args = [
    AUTOCANNON,
    '-c',
    String(opts.connections),
    '-d',
    String(opts.duration),
    '-j',
    '-H',
    `authorization=Bearer ${opts.token}`,
    opts.url,
  ];
  const { stdout } = await execFileP(process.execPath, args, {
    maxBuffer: 64 * 1024 * 1024,
    timeout: (opts.duration + 60) * 1000,
  });
  return JSON.parse(stdout) as CannonResult;
}

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
    json: { type: 'string' },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const TOKEN = 'bench-read-token-0123456789';
const SITES = ['ams', 'fra', 'lon', 'nyc', 'sfo'];
const STAGES = ['planned', 'power', 'netboot/dhcp', 'installing', 'validate', 'provisioned'];

function fleet(n: number): HostRun[] {
  return Array.from({ length: n }, (_, i) => {
    const stage = STAGES[i % STAGES.length]!;
    const site = SITES[i % SITES.length]!;
    const host = `node-${String(i).padStart(5, '0')}`;
    return {
      site,
      host,
      stage,
      state: stage === 'provisioned' ? 'provisioned' : i % 11 === 0 ? 'failed' : 'running',
      revision: `dir-${(i % 3).toString().repeat(12)}`,
      workflowId: `host/${site}/${host}`,
      runId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      startedMs: Date.now() - 3_600_000 + i,
    };
  });
}

const stack = await startTestStack({ name: 'bench-api' });
const rows: {
  case: string;
  p50: number;
  p90: number;
  p99: number;
  avg: number;
  max: number;
  rps: number;
  requests: number;
  errors: number;
}[] = [];
try {
  const sot = await writeSot({
    sot: 'bench',
    site: 'benchsite',
    workflows: {
      quick: { boots: ['quick'], policy: { max_concurrent: 4 } },
      slow: { boots: ['quick'], policy: { max_concurrent: 4 }, timeouts: { checkpoint: 3600 } },
    },
    hosts: [
      { name: 'done', workflow: 'quick' },
      { name: 'busy', workflow: 'slow', options: { stall_at: 'checkpoint' } },
    ],
  });
  await stack.startSimSite(sot.site);
  const r = await startRollout(stack.client, sot);
  await waitFor('done provisioned, busy installing', async () => {
    const [d, b] = await Promise.all(
      ['done', 'busy'].map((h) =>
        stack.client.workflow.getHandle(hostWorkflowId(sot.site, h)).query(hostStatusQuery),
      ),
    );
    return d!.state === 'provisioned' && b!.stage === 'installing';
  });

  const config: ServerConfig = {
    listen: { host: '127.0.0.1', port: 0 },
    dataDir: stack.dataDir,
    temporal: {},
    controlWorker: false,
    auth: { tokens: [{ name: 'bench', role: 'read', token: TOKEN }], open: [] },
    sots: [],
    indexRefreshMs: 2000,
    watchDebounceMs: 1000,
    logLevel: 'silent',
  };
  // The listing: an index holding 10,000 hosts.
  const metrics = createMetrics({ defaultMetrics: false });
  const big = new FleetIndex(undefined, metrics.observer);
  for (const h of fleet(10_000)) big.upsertHost(h, { initial: true });
  big.refreshedAt = Date.now();
  const listing = await buildApp({
    config,
    client: stack.client,
    namespace: stack.namespace,
    index: big,
    metrics,
  });
  const listingUrl = await listing.listen({ host: '127.0.0.1', port: 0 });
  // One host: the index follows the real stack, the detail comes from the workflow.
  const index = new FleetIndex();
  const detail = await buildApp({ config, client: stack.client, namespace: stack.namespace, index });
  const sync = new FleetSync({ client: stack.client, index, intervalMs: 2000 });
  await sync.refresh();
  const detailUrl = await detail.listen({ host: '127.0.0.1', port: 0 });

  const cases: [string, string][] = [
    ['GET /hosts?limit=10000 (10,000 rows)', `${listingUrl}/hosts?limit=10000`],
    ['GET /hosts (first page of 100)', `${listingUrl}/hosts`],
    ['GET /hosts?site=nyc&state=failed&limit=100', `${listingUrl}/hosts?site=nyc&state=failed&limit=100`],
    ['GET /hosts/:site/:host (running host)', `${detailUrl}/hosts/${sot.site}/busy`],
    ['GET /hosts/:site/:host (provisioned host)', `${detailUrl}/hosts/${sot.site}/done`],
  ];
  for (const [name, url] of cases) {
    const res = await autocannon({ url, connections, duration, token: TOKEN });
    rows.push({
      case: name,
      p50: res.latency.p50,
      p90: res.latency.p90,
      p99: res.latency.p99,
      avg: Math.round(res.latency.average * 100) / 100,
      max: res.latency.max,
      rps: Math.round(res.requests.average),
      requests: res.requests.total,
      errors: res.errors + res.non2xx,
    });
    process.stderr.write(
      `${name}: p50 ${res.latency.p50} ms, p99 ${res.latency.p99} ms, ${Math.round(res.requests.average)} req/s\n`,
    );
  }
  // Requests autocannon gave up on at the end may still be waiting on Temporal: let them finish first.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  await sync.stop();
  await listing.close();
  await detail.close();
  // Nothing of the bench may outlive it: the stuck host and its rollout are ended here.
  for (const id of [r.workflowId, hostWorkflowId(sot.site, 'busy')]) {
    await stack.client.workflow
      .getHandle(id)
      .terminate('benchmark finished')
      .catch(() => undefined);
  }
} finally {
  await stack.close();
}

process.stdout.write(
  `\n${connections} connections, ${duration} s per case, server and autocannon in separate processes on the same 2 cores\n\n`,
);
process.stdout.write(
  '| case | p50 ms | p90 ms | p99 ms | avg ms | max ms | req/s | requests | errors |\n|---|---|---|---|---|---|---|---|---|\n',
);
for (const r of rows)
  process.stdout.write(
    `| ${r.case} | ${r.p50} | ${r.p90} | ${r.p99} | ${r.avg} | ${r.max} | ${r.rps} | ${r.requests} | ${r.errors} |\n`,
  );
if (values.json) writeFileSync(values.json, JSON.stringify({ connections, duration, rows }, null, 2) + '\n');
