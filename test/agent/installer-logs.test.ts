// Installer logs, end to end through the product: an agent (startAgent(loadAgentConfig(file)), as `vaquero agent`
// runs it) in a network namespace of its own, reaching a real Temporal dev server; booting "hosts" in namespaces
// beside it sending their logs with real clients — util-linux's `logger` (RFC 3164 and RFC 5424 over UDP) and
// curl (HTTP posts with the run's checkpoint token). Asserted: each line lands on the right host (by its gate's
// address, by the neighbour table, by the token), a host's lines are bounded and the newest kept, hostile input
// (an oversized datagram, an unknown sender, a bad token, path tricks) is refused or cut, each host workflow run
// gets a bounded number of short `log` summaries, and the lines come back through the hostInstallerLogs workflow
// the API uses (on the agent's own queue, and on the site's).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import { CheckpointTokens } from '../../agent/checkpoint-token.ts';
import { ensureDebianPackages } from '../../cli/setup/debian-packages.ts';
import type { BootEvent } from '../../domain/boot-events.ts';
import { MAX_LOG_LINE_BYTES } from '../../domain/installer-logs.ts';
import { bootEventSignal, bootEventsSignal } from '../../domain/workflow-api.ts';
import { serveUnixToTcp } from '../../lab/forward.ts';
import { readHostInstallerLogs } from '../../server/host-logs.ts';
import { startNetnsHelper } from '../../testkit/netns-helper.ts';
import type { NetnsHelper } from '../../testkit/netns-helper.ts';
import { addAddress, createVethPair, requireRoot, runInNs, setLinkAddress } from '../../testkit/netns.ts';
import type { VethPair } from '../../testkit/netns.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import { waitFor } from '../../testkit/workflows.ts';
import { startNsAgent } from './support/ns-agent.ts';
import type { NsAgent } from './support/ns-agent.ts';
import { openGate } from './support/open-gate.ts';

const SITE = 'logs';
const AGENT = 'logs-agent';
const H1 = { host: 'h1', mac: '52:54:00:10:9a:01', ip: '10.79.1.2' };
const H2 = { host: 'h2', mac: '52:54:00:10:9a:02', ip: '10.79.2.2' };
const STRANGER = { mac: '52:54:00:10:9a:03', ip: '10.79.3.2' };
const MAX_LINES_PER_RUN = 20;
// h1 sends 5 lines: each summary counts one at least, so its last line is always summarised within the bound.
const MAX_SUMMARIES = 5;

test('installer logs over syslog and HTTP: matched to their host, bounded, summarised to the workflow', async (t) => {
  requireRoot();
  await ensureDebianPackages(['bsdutils', 'curl'], () => undefined);
  const cleanup: (() => unknown)[] = [];
  t.after(async () => {
    for (const f of cleanup.reverse()) await Promise.resolve(f()).catch(() => undefined);
  });
  const stack: TestStack = await startTestStack({ name: 'installer-logs' });
  cleanup.push(() => stack.close());
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-installer-logs-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));

  // The agent's namespace, one segment per host (and one for a sender no gate knows).
  const p1: VethPair = createVethPair({ prefix: '10.79.1' });
  cleanup.push(() => p1.cleanup());
  const p2 = createVethPair({ prefix: '10.79.2', serverNs: p1.server, broadcastRoute: false });
  cleanup.push(() => p2.cleanup());
  const p3 = createVethPair({ prefix: '10.79.3', serverNs: p1.server, broadcastRoute: false });
  cleanup.push(() => p3.cleanup());
  for (const [pair, h] of [
    [p1, H1],
    [p2, H2],
    [p3, STRANGER],
  ] as const) {
    setLinkAddress(pair.client, pair.clientIf, h.mac);
    addAddress(pair.client, pair.clientIf, `${h.ip}/24`);
  }

  // Temporal's frontend on the agent namespace's loopback, through a unix socket (lab/forward.ts).
  const socket = path.join(dir, 'temporal.sock');
  const forward: Server = await serveUnixToTcp(socket, Number(stack.address.split(':').pop()));
  cleanup.push(() => new Promise((r) => forward.close(r)));
  const helper: NetnsHelper = await startNetnsHelper(p1.server, { temporal: { port: 7233, socket } });
  cleanup.push(() => helper.stop());

  const dataDir = path.join(dir, 'data');
  const file = path.join(dir, 'agent.yml');
  await writeFile(
    file,
    [
      `agent_id: ${AGENT}`,
      `site: ${SITE}`,
      `data_dir: ${dataDir}`,
      `temporal: { address: "${helper.temporalAddress}", namespace: ${stack.namespace}, codec: ${JSON.stringify(stack.codec)} }`,
      'dhcp: { enabled: false }',
      'tftp: { enabled: false }',
      'http: { listen: 0.0.0.0, port: 8080 }',
      'syslog: { port: 514 }',
      `installer_logs: { max_lines_per_run: ${MAX_LINES_PER_RUN}, summary_every_s: 0.5, max_summaries_per_run: ${MAX_SUMMARIES} }`,
    ].join('\n'),
  );
  const agent: NsAgent = await startNsAgent(p1.server, file);
  cleanup.push(() => agent.stop());
  const health = async () =>
    JSON.parse((await agent.get('/health')).body) as {
      worker: string;
      installerLogs: { syslog: string; kept: number; unknownSource: number; badToken: number };
    };
  assert.equal((await health()).installerLogs.syslog, 'listening');
  await waitFor(
    'the agent polls Temporal',
    async () => ((await health()).worker === 'RUNNING' ? true : undefined),
    { timeoutMs: 60_000 },
  );

  // Two host runs (a type no worker polls takes signals all the same), each with its gate open on the agent: h1's
  // names no address (the neighbour table ties its sender to its MAC), h2's does.
  const runs: Record<string, string> = {};
  for (const h of [H1, H2]) {
    const handle = await stack.client.workflow.start('noWorkerPollsThis', {
      workflowId: `host/${SITE}/${h.host}`,
      taskQueue: 'nobody-polls-this',
    });
    cleanup.push(() => handle.terminate('test over'));
    runs[h.host] = handle.firstExecutionRunId;
  }
  await agent.call({
    op: 'siteModel',
    model: {
      sot: 's',
      revision: 'r1',
      site: SITE,
      httpUrl: 'http://10.79.1.1:8080',
      dhcpMode: 'server',
      subnets: [],
      reservations: [],
    },
  });
  for (const h of [H1, H2])
    await agent.call({
      op: 'gate',
      gate: openGate({
        site: SITE,
        host: h.host,
        mac: h.mac,
        runId: runs[h.host]!,
        ...(h === H2 ? { ipv4: H2.ip } : {}),
      }),
    });

  const logger = (pair: VethPair, args: string[]) =>
    runInNs(pair.client, 'logger', ['--server', pair.serverIp, '--port', '514', '--udp', ...args]);
  // h1: one line in each syslog format, one of them an error.
  assert.equal(
    (await logger(p1, ['--rfc3164', '-t', 'd-i', '-p', 'user.err', 'h1: partitioning failed'])).code,
    0,
  );
  assert.equal(
    (await logger(p1, ['--rfc5424', '-t', 'installer', 'h1: installing the base system'])).code,
    0,
  );
  // h2: more lines than a run keeps, in a few batches.
  const lines = Array.from({ length: 30 }, (_, i) => `h2 line ${i + 1}`);
  for (let b = 0; b < 5; b++) {
    const batch = path.join(dir, `batch-${b}`);
    await writeFile(batch, lines.slice(b * 6, b * 6 + 6).join('\n') + '\n');
    const r = await logger(p2, ['--rfc5424', '-t', 'installer', '-f', batch]);
    assert.equal(r.code, 0, r.stderr);
  }
  // An oversized datagram: kept, cut.
  const big = 'x'.repeat(60_000);
  assert.equal((await logger(p2, ['--rfc3164', '-t', 'big', '--size', '65000', big])).code, 0);
  // A sender no open gate knows: nothing kept.
  assert.equal((await logger(p3, ['--rfc3164', '-t', 'stranger', 'stranger: let me in'])).code, 0);

  // HTTP posts with h1's checkpoint token (the agent's key is in its data dir).
  const tokens = await CheckpointTokens.fromDataDir(dataDir);
  const token = tokens.tokenFor(`host/${SITE}/${H1.host}`, runs[H1.host]!, 1);
  const postFile = path.join(dir, 'post.log');
  await writeFile(
    postFile,
    'h1 post: first line\r\nh1 post: \u001b[31mred\u001b[0m line\n\nh1 post: last line\n',
  );
  const curl = (url: string) =>
    runInNs(p1.client, 'curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--data-binary',
      `@${postFile}`,
      url,
    ]);
  assert.equal((await curl(`http://10.79.1.1:8080/log/${token}`)).stdout, '200');
  assert.equal((await curl('http://10.79.1.1:8080/log/not-a-token-of-any-run')).stdout, '404');
  assert.equal((await curl('http://10.79.1.1:8080/log/..%2F..%2Fetc%2Fpasswd')).stdout, '400');
  const asIs = await runInNs(p1.client, 'curl', [
    ...['-s', '--path-as-is', '-o', '/dev/null', '-w', '%{http_code}', '--data-binary', 'x'],
    'http://10.79.1.1:8080/log/../../checkpoint.key',
  ]);
  assert.equal(asIs.stdout, '404');

  const h = await waitFor(
    'every line taken',
    async () => {
      const s = (await health()).installerLogs;
      return s.kept >= 2 + 30 + 1 + 3 && s.unknownSource >= 1 ? s : undefined;
    },
    { timeoutMs: 30_000 },
  );
  assert.equal(h.kept, 2 + 30 + 1 + 3, 'each line of a known host kept once');
  assert.equal(h.badToken, 1, 'the bad token (the path tricks never reach a token check)');

  const metrics = (await agent.get('/metrics')).body;
  assert.match(
    metrics,
    new RegExp(`vaquero_agent_installer_log_lines_total\\{outcome="kept"\\} ${h.kept}\\n`),
  );
  assert.match(metrics, /vaquero_agent_installer_log_lines_total\{outcome="unknown_source"\} 1\n/);

  // Read back the way the API does: the hostInstallerLogs workflow, on the agent's own queue.
  const h1 = await readHostInstallerLogs(stack.client, SITE, H1.host, [AGENT], 100);
  assert.deepEqual(
    h1.lines.map((l) => [l.transport, l.app ?? '', l.text]),
    [
      ['syslog', 'd-i', 'h1: partitioning failed'],
      ['syslog', 'installer', 'h1: installing the base system'],
      ['http', '', 'h1 post: first line'],
      ['http', '', 'h1 post:  [31mred [0m line'],
      ['http', '', 'h1 post: last line'],
    ],
  );
  assert.equal(h1.lines[0]!.severity, 3);
  assert.ok(h1.lines.every((l) => l.from === H1.ip && l.agent === AGENT));
  assert.deepEqual(h1.agents, [{ agent: AGENT, runId: runs[H1.host], received: 5 }]);

  // h2 through the site's queue (a site of one agent): bounded, the newest kept, the oversized line cut.
  const h2 = await readHostInstallerLogs(stack.client, SITE, H2.host, [], 500);
  assert.ok(h2.lines.length <= MAX_LINES_PER_RUN, `${h2.lines.length} lines kept`);
  const last = h2.lines.at(-1)!;
  assert.equal(last.app, 'big');
  assert.ok(Buffer.byteLength(last.text) <= MAX_LOG_LINE_BYTES && last.text.endsWith(' …'));
  assert.equal(h2.lines.at(-2)!.text, 'h2 line 30');
  assert.ok(!h2.lines.some((l) => l.text === 'h2 line 1'), 'the oldest lines went');
  assert.equal(h2.agents[0]!.received, 31);
  assert.ok(![...h1.lines, ...h2.lines].some((l) => l.text.includes('stranger')));

  // The workflows: a few short summaries each, never the lines.
  const summaries = async (host: string): Promise<BootEvent[]> => {
    const hist = await stack.client.workflow.getHandle(`host/${SITE}/${host}`, runs[host]).fetchHistory();
    const out: BootEvent[] = [];
    for (const e of hist.events ?? []) {
      const s = e.workflowExecutionSignaledEventAttributes;
      if (s?.signalName !== bootEventSignal.name && s?.signalName !== bootEventsSignal.name) continue;
      let payloads = [s.input!.payloads![0]!];
      for (const codec of [...(stack.temporal.dataConverter.payloadCodecs ?? [])].reverse())
        payloads = await codec.decode(payloads);
      const arg = defaultPayloadConverter.fromPayload<BootEvent | BootEvent[]>(payloads[0]!);
      out.push(...(Array.isArray(arg) ? arg : [arg]));
    }
    return out;
  };
  const s1 = await waitFor(
    'h1 summarised up to its last line',
    async () => {
      const s = await summaries(H1.host);
      return s.some((e) => e.detail?.includes('last: h1 post: last line')) ? s : undefined;
    },
    { timeoutMs: 30_000 },
  );
  assert.ok(s1.every((e) => e.kind === 'log' && e.source === AGENT && e.runId === runs[H1.host]));
  const counted = s1.map((e) => Number(/^(\d+) installer log line/.exec(e.detail ?? '')?.[1]));
  assert.equal(
    counted.reduce((a, b) => a + b, 0),
    5,
    'every line counted once',
  );
  assert.ok(
    s1.some((e) => /, 1 error/.test(e.detail ?? '')),
    'the err line counted as an error',
  );

  // h2 goes on printing (a line each poll) until its run has all the summaries it may have.
  let more = 0;
  const s2 = await waitFor(
    'h2 summarised to its bound',
    async () => {
      const s = await summaries(H2.host);
      if (s.length >= MAX_SUMMARIES) return s;
      await logger(p2, ['--rfc3164', '-t', 'more', `h2 more ${++more}`]);
      return undefined;
    },
    { timeoutMs: 30_000, intervalMs: 300 },
  );
  assert.equal(s2.length, MAX_SUMMARIES);
  assert.ok(s2.at(-1)!.detail!.includes('no more summaries this run'));
  for (const e of [...s1, ...s2]) assert.ok(Buffer.byteLength(e.detail!) < 400, e.detail);
  // No more come: the lines after the bound are kept, not summarised.
  await logger(p2, ['--rfc3164', '-t', 'late', 'h2: after the bound']);
  await waitFor(
    'the late line kept',
    async () => ((await health()).installerLogs.kept === h.kept + more + 1 ? true : undefined),
    { timeoutMs: 10_000 },
  );
  assert.equal((await summaries(H2.host)).length, MAX_SUMMARIES);
});
