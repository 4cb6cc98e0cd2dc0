// The runner end to end on its smallest benchmark (TFTP, smoke size), and the pieces it is built from that need
// no network: reading perfdhcp's output, perfdhcp's client MACs, medians, and the BENCHMARKS.md splice.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { noDrops, parsePerfdhcp, perfdhcpMac } from '../../bench/lib/perfdhcp.ts';
import { DOC_END, DOC_START, renderReportMarkdown, updateBenchmarksDoc } from '../../bench/lib/report.ts';
import type { Report } from '../../bench/lib/results.ts';
import { makeRow, shortfall } from '../../bench/lib/results.ts';
import { median, percentile } from '../../bench/lib/stats.ts';
import { completedBy } from '../../bench/run.ts';
import { requireRoot } from '../../testkit/netns.ts';

const RUN = fileURLToPath(new URL('../../bench/run.ts', import.meta.url));

/** The machine of the made-up reports below. */
const MACHINE: Report['machine'] = {
  hostname: 'h',
  cpu: 'cpu',
  cores: 2,
  memoryGiB: 8,
  kernel: '6.1',
  os: 'Debian',
  node: 'v20',
  loadAverageAtStart: [0.1, 0.1, 0.1],
  tools: { wrk: '4.1.0' },
};

test('npm run bench -- --smoke --only tftp writes a JSON and a Markdown report', () => {
  requireRoot();
  const out = mkdtempSync(path.join(tmpdir(), 'vq-bench-out-'));
  try {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', RUN, '--smoke', '--only', 'tftp', '--out', out, '--no-doc', '--no-install'],
      {
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const files = readdirSync(out).sort();
    assert.equal(files.length, 2, files.join(' '));
    const json = JSON.parse(
      readFileSync(
        path.join(
          out,
          files.find((f) => f.endsWith('.json'))!,
        ),
        'utf8',
      ),
    ) as Report;
    assert.equal(json.tool, 'vaquero-bench');
    assert.equal(json.mode, 'smoke');
    assert.deepEqual(json.failed, []);
    assert.deepEqual(
      json.benchmarks.map((b) => b.name),
      ['tftp'],
    );
    assert.ok(json.machine.cores > 0 && json.machine.cpu.length > 0);
    const md = readFileSync(
      path.join(
        out,
        files.find((f) => f.endsWith('.md'))!,
      ),
      'utf8',
    );
    assert.match(md, /\| case \| metric \| vaquero \| dnsmasq \| ÷ dnsmasq \| tftpd-hpa \| ÷ tftpd-hpa \|/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

const PERFDHCP = `Running: perfdhcp -4 -l x -r 200 -p 3 -x t
***Rate statistics***
Rate: 199.63 4-way exchanges/second, expected rate: 200

***Statistics for: DISCOVER-OFFER***
sent packets: 599
received packets: 599
drops: 0
avg delay: 30.292 ms

***Statistics for: REQUEST-ACK***
sent packets: 599
received packets: 598
drops: 1
avg delay: 29.984 ms

***Timestamps for packets: DISCOVER-OFFER***
sent / received: 000000.000073 / 000000.000658
sent / received: 000000.010137 / 000000.021022
***Timestamps for packets: REQUEST-ACK***
sent / received: 000000.001000 / 000000.003000
It took 00:00:04.872629 to provision 1000 clients.
Requests resent: 1527
`;

test('perfdhcp output: exchanges, drops, per-exchange delays and the avalanche summary', () => {
  const r = parsePerfdhcp(PERFDHCP, 3);
  assert.deepEqual(r.discover, { sent: 599, received: 599, drops: 0, avgMs: 30.292 });
  assert.deepEqual(r.request, { sent: 599, received: 598, drops: 1, avgMs: 29.984 });
  assert.equal(noDrops(r), false);
  assert.equal(r.rate, 199.63);
  assert.deepEqual(
    r.discoverDelaysMs.map((d) => Math.round(d * 1000) / 1000),
    [0.585, 10.885],
  );
  assert.deepEqual(
    r.requestDelaysMs.map((d) => Math.round(d * 1000) / 1000),
    [2],
  );
  assert.equal(r.provisionSeconds, 4.872629);
  assert.equal(r.provisionedClients, 1000);
  assert.equal(r.resent, 1527);
});

test("perfdhcp's client MACs: the base plus r, octet by octet without carry (as seen on the wire)", () => {
  assert.equal(perfdhcpMac('02:76:00:00:00:00', 0), '02:76:00:00:00:00');
  assert.equal(perfdhcpMac('02:76:00:00:00:00', 999), '02:76:00:00:03:e7');
  assert.equal(perfdhcpMac('02:00:00:00:00:f0', 16), '02:00:00:00:00:00');
});

test('medians, percentiles, ratios and how far vaquero is behind', () => {
  assert.equal(median([3, null, 1, 2]), 2);
  assert.equal(median([1, 2, 3, 4]), 2.5);
  assert.equal(median([null]), null);
  assert.equal(percentile([5, 1, 4, 2, 3], 50), 3);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99), 10);
  const up = makeRow('x', { case: 'c', metric: 'm', unit: '/s', better: 'higher' }, [50, 60, 40], {
    ref: [100, 100, 100],
  });
  assert.equal(up.ratios.ref, 0.5);
  assert.equal(shortfall(up, 'ref'), 0.5);
  const down = makeRow('x', { case: 'c', metric: 'm', unit: 'ms', better: 'lower' }, [2], { ref: [1] });
  assert.equal(shortfall(down, 'ref'), 0.5);
  assert.equal(
    shortfall(
      makeRow('x', { case: 'c', metric: 'm', unit: 'ms', better: 'lower' }, [1], { ref: [2] }),
      'ref',
    ),
    0,
  );
});

test('the results section of BENCHMARKS.md is replaced and the rest kept', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vq-bench-doc-'));
  try {
    const file = path.join(dir, 'BENCHMARKS.md');
    writeFileSync(file, `# Benchmarks\nintro\n${DOC_START}\nold table\n${DOC_END}\noutro\n`);
    const report: Report = {
      tool: 'vaquero-bench',
      version: 1,
      mode: 'full',
      startedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: '2026-01-01T00:10:00.000Z',
      durationS: 600,
      command: 'npm run bench',
      machine: MACHINE,
      benchmarks: [
        {
          name: 'dhcp',
          params: { runs: 3 },
          rows: [
            makeRow(
              'dhcp',
              { case: 'highest rate with no drops', metric: 'rate', unit: 'DORA/s', better: 'higher' },
              [400, 420, 410],
              { dnsmasq: [300, 310, 290] },
            ),
          ],
          details: {},
          notes: ['a note'],
          durationS: 100,
        },
      ],
      failed: [],
    };
    updateBenchmarksDoc(file, report);
    const doc = readFileSync(file, 'utf8');
    assert.ok(doc.startsWith('# Benchmarks\nintro\n'));
    assert.ok(doc.endsWith(`${DOC_END}\noutro\n`));
    assert.ok(!doc.includes('old table'));
    assert.match(
      doc,
      /\| highest rate with no drops \| rate \(DORA\/s ↑\) \| 410 <sub>400–420<\/sub> \| 300 <sub>290–310<\/sub> \| 1\.37 \|/,
    );
    assert.match(doc, /- a note/);
    assert.match(renderReportMarkdown(report), /^# vaquero benchmark results/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--redo: a full report with the benchmarks run again in place of its own, said so in the results', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vq-bench-redo-'));
  const bench = (name: string, value: number): Report['benchmarks'][number] => ({
    name,
    params: {},
    rows: [makeRow(name, { case: 'c', metric: 'm', unit: '/s', better: 'higher' }, [value], { ref: [1] })],
    details: {},
    notes: [],
    durationS: 10,
  });
  const full: Report = {
    tool: 'vaquero-bench',
    version: 1,
    mode: 'full',
    startedAt: '2026-12-04T23:21:18.000Z',
    finishedAt: '2026-12-05T00:30:00.000Z',
    durationS: 4000,
    command: 'npm run bench',
    machine: MACHINE,
    benchmarks: [bench('dhcp', 1), bench('tftp', 2), bench('http', 3), bench('fleet', 5)],
    failed: [{ name: 'orchestration', error: 'no result' }],
  };
  const again: Report = {
    ...full,
    startedAt: '2026-12-05T00:40:00.000Z',
    finishedAt: '2026-12-05T00:55:00.000Z',
    durationS: 900,
    command: 'npm run bench -- --only orchestration --redo x.json',
    benchmarks: [bench('orchestration', 4)],
    failed: [],
  };
  const file = path.join(dir, 'full.json');
  try {
    writeFileSync(file, JSON.stringify(full));
    const r = completedBy(again, { file, reason: 'its 3,000-host run hung' });
    assert.equal(r.mode, 'full');
    assert.deepEqual(
      r.benchmarks.map((b) => [b.name, b.rows[0]!.vaquero.median]),
      [
        ['dhcp', 1],
        ['tftp', 2],
        ['http', 3],
        ['orchestration', 4],
        ['fleet', 5],
      ],
    );
    assert.deepEqual(r.failed, []);
    assert.equal(r.startedAt, full.startedAt);
    assert.equal(r.durationS, 4900);
    assert.deepEqual(r.redone, [
      {
        benchmarks: ['orchestration'],
        startedAt: again.startedAt,
        command: again.command,
        reason: 'its 3,000-host run hung',
      },
    ]);
    assert.match(
      renderReportMarkdown(r),
      /Run again on the same machine, replacing the full run's orchestration: 2026-12-05T00:40:00\.000Z, `npm run bench -- --only orchestration --redo x\.json` \(its 3,000-host run hung\)\./,
    );
    // Only a full run can be completed, and only by benchmarks run in full.
    assert.throws(() => completedBy({ ...again, mode: 'runs=1' }, { file }), /must run in full/);
    writeFileSync(file, JSON.stringify({ ...full, mode: 'smoke' }));
    assert.throws(() => completedBy(again, { file }), /not the report of a full run/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
