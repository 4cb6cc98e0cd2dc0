// Through the product: an agent (startAgent with the DHCP service `vaquero agent` runs) whose data dir is on a
// full disk (a small tmpfs, filled to the brim) keeps answering a bounded DHCP load from perfdhcp (LAB.md §3,
// relayed, inside the namespaces this test makes), holds the boot events it cannot write, says so once, and once
// space returns writes them and delivers each to its workflow in a real Temporal exactly once.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { GateEntry } from '../../domain/netboot-gate.ts';
import type { SiteModel } from '../../domain/site-model.ts';
import type { VethPair } from '../../testkit/netns.ts';
import { addAddress, createVethPair, requireRoot, runInNs, spawnNodeInNs } from '../../testkit/netns.ts';
import type { ChildStats, FromChild, FullDiskAgentSpec, ToChild } from './support/full-disk-agent-child.ts';

requireRoot();

const PREFIX = '10.77.41';
const HOSTS = 20;
const macs = Array.from({ length: HOSTS }, (_, i) => `52:54:00:41:00:${i.toString(16).padStart(2, '0')}`);
const workflowId = (i: number): string => `host/lab/fd${i}`;
const CHILD = fileURLToPath(new URL('./support/full-disk-agent-child.ts', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The child's IPC: one request at a time is enough here. */
class AgentChild {
  readonly logs: string[] = [];
  stderr = '';
  private nextId = 1;
  private readonly waiting = new Map<number, (m: FromChild) => void>();

  constructor(readonly child: ChildProcess) {
    child.stderr?.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-8000)));
    child.stdout?.resume();
    child.on('message', (raw) => {
      const m = raw as FromChild;
      if ('log' in m) return void this.logs.push(m.log);
      const done = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      done?.(m);
    });
    child.once('exit', () => {
      for (const done of this.waiting.values()) done({ id: 0, ok: false, error: `exited: ${this.stderr}` });
      this.waiting.clear();
    });
  }

  alive(): boolean {
    return this.child.connected && this.child.exitCode === null && this.child.signalCode === null;
  }

  call(req: { op: ToChild['op']; spec?: FullDiskAgentSpec }, timeoutMs = 15_000) {
    const id = this.nextId++;
    return new Promise<Extract<FromChild, { ok: true }>>((resolve, reject) => {
      if (!this.child.connected) return reject(new Error(`the agent is gone: ${this.stderr}`));
      const timer = setTimeout(() => reject(new Error(`no reply to ${req.op}: ${this.stderr}`)), timeoutMs);
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        if ('ok' in m && m.ok) resolve(m);
        else reject(new Error(`${req.op} failed: ${'error' in m ? m.error : '?'}`));
      });
      this.child.send({ ...req, id });
    });
  }

  async stats(): Promise<ChildStats> {
    return (await this.call({ op: 'stats' })).stats!;
  }

  /** Ends it: a stop over IPC, then SIGKILL by its pid if it is still there after 20 s. */
  async end(): Promise<void> {
    const { child } = this;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    await this.call({ op: 'stop' }, 30_000).catch(() => undefined);
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }

  /** The agent's log messages (pino JSON lines). */
  messages(): string[] {
    return this.logs.flatMap((l) => {
      try {
        return [(JSON.parse(l) as { msg: string }).msg];
      } catch {
        return [l];
      }
    });
  }
}

/** perfdhcp's summary of one exchange, e.g. "sent packets: 150" under "Statistics for: DISCOVER-OFFER". */
function exchange(output: string, name: string): { sent: number; received: number } {
  const at = output.indexOf(`Statistics for: ${name}`);
  assert.ok(at >= 0, `no ${name} statistics in:\n${output}`);
  const part = output.slice(at, at + 800);
  const num = (label: string): number => Number(new RegExp(`${label}: (\\d+)`).exec(part)?.[1] ?? NaN);
  return { sent: num('sent packets'), received: num('received packets') };
}

describe('an agent whose data dir is on a full disk', () => {
  let pair: VethPair | undefined;
  let agent: AgentChild | undefined;
  const scratch = mkdtempSync(join(tmpdir(), 'vq-fulldisk-agent-'));
  const disk = join(scratch, 'disk');
  const filler = join(disk, 'filler');
  let mounted = false;

  /** Relayed DORAs from the client namespace (perfdhcp -l), bounded in rate, time and by `timeout`. */
  async function load(
    rate: number,
    seconds: number,
  ): Promise<[{ sent: number; received: number }, { sent: number; received: number }]> {
    const list = join(scratch, 'macs.txt');
    writeFileSync(list, macs.join('\n') + '\n');
    const r = await runInNs(
      pair!.client,
      'perfdhcp',
      ['-4', '-l', pair!.clientIf, '-r', String(rate), '-p', String(seconds), '-M', list],
      { timeoutMs: (seconds + 20) * 1000 },
    );
    const out = r.stdout + r.stderr;
    // Exit code 3 means "there were drops": a result, judged below.
    assert.ok(r.code === 0 || r.code === 3, `perfdhcp exited ${r.code}:\n${out}`);
    return [exchange(out, 'DISCOVER-OFFER'), exchange(out, 'REQUEST-ACK')];
  }

  before(async () => {
    mkdirSync(disk);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128k,mode=0755', 'tmpfs', disk]);
    mounted = true;
    // The model cache the agent boots from: every host reserved, its gate open, its events for its workflow.
    const dataDir = join(disk, 'agent');
    mkdirSync(join(dataDir, 'cache'), { recursive: true });
    const model: SiteModel = {
      sot: 'test',
      revision: 'r1',
      site: 'lab',
      httpUrl: `http://${PREFIX}.1:8080`,
      dhcpMode: 'server',
      subnets: [
        {
          id: 'lab',
          cidr: `${PREFIX}.0/24`,
          netmask: '255.255.255.0',
          gateway: `${PREFIX}.1`,
          dns: [],
          ntp: [],
          domain: 'lab.example',
          dhcpOptions: [],
        },
      ],
      reservations: macs.map((mac, i) => ({
        host: `fd${i}`,
        mac,
        ipv4: `${PREFIX}.${50 + i}`,
        hostname: `fd${i}`,
        subnet: 'lab',
      })),
    };
    const entries: GateEntry[] = macs.map((mac, i) => ({
      site: 'lab',
      host: `fd${i}`,
      mac,
      sot: 'test',
      revision: 'r1',
      fingerprint: 'sha256:test',
      bootStage: 1,
      hasConfig: false,
      open: true,
      workflowId: workflowId(i),
      runId: `run-${i}`,
      updatedAt: Date.now(),
    }));
    writeFileSync(join(dataDir, 'cache', 'site-model.json'), JSON.stringify(model));
    writeFileSync(join(dataDir, 'cache', 'netboot.json'), JSON.stringify({ entries }));

    pair = createVethPair({ prefix: PREFIX });
    addAddress(pair.client, pair.clientIf, `${PREFIX}.2/24`); // perfdhcp's address as a relay: giaddr
    agent = new AgentChild(spawnNodeInNs(pair.server, CHILD));
    await agent.call(
      {
        op: 'start',
        spec: {
          dataDir,
          temporalDir: join(scratch, 'temporal'),
          interface: { name: pair.serverIf, address: pair.serverIp, cidr: `${PREFIX}.0/24` },
          workflowIds: macs.map((_, i) => workflowId(i)),
        },
      },
      120_000,
    );
  });

  after(async () => {
    await agent?.end();
    pair?.cleanup();
    if (mounted) execFileSync('umount', [disk]);
    rmSync(scratch, { recursive: true, force: true });
  });

  it('keeps answering DHCP, holds the events, and delivers each once when space returns', async () => {
    const a = agent!;
    // Filled to the brim: page by page until the file system refuses.
    const fd = openSync(filler, 'w');
    try {
      const page = Buffer.alloc(4096, 0x66);
      while (writeSync(fd, page) === page.length);
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      closeSync(fd);
    }

    // 40 exchanges a second for 3 s, then (after several write retries) 20 a second for 2 s.
    for (const [rate, seconds] of [
      [40, 3],
      [20, 2],
    ] as const) {
      const [dora, rr] = await load(rate, seconds);
      assert.ok(a.alive(), `the agent process is up: ${a.stderr}`);
      assert.ok(dora.sent >= rate * seconds * 0.9, JSON.stringify(dora));
      assert.ok(dora.received >= dora.sent * 0.95, `offers: ${JSON.stringify(dora)}`);
      assert.ok(rr.received >= rr.sent * 0.95, `acks: ${JSON.stringify(rr)}`);
      await sleep(1500);
    }

    const full = await a.stats();
    const recorded = full.recorder.recorded;
    assert.ok(recorded >= 200, JSON.stringify(full));
    assert.equal(full.recorder.failed, 0);
    assert.equal(full.outbox.unwritten, recorded, `every event held: ${JSON.stringify(full.outbox)}`);
    assert.deepEqual([full.outbox.delivered, full.outbox.dropped], [0, 0]);
    assert.ok(full.outbox.writeFailures >= 3, JSON.stringify(full.outbox));
    assert.ok(full.outbox.oldestUndeliveredAgeMs >= 3000, JSON.stringify(full.outbox));
    const told = a.messages().filter((m) => /outbox: cannot write events/.test(m));
    assert.equal(told.length, 1, `the condition logged once, not per packet:\n${told.join('\n')}`);
    assert.equal(a.messages().filter((m) => /boot event not recorded/.test(m)).length, 0);

    rmSync(filler);
    const deadline = Date.now() + 60_000;
    let s = await a.stats();
    while (s.outbox.queued > 0 && Date.now() < deadline) {
      await sleep(200);
      s = await a.stats();
    }
    assert.equal(s.outbox.queued, 0, `delivered once space returned: ${JSON.stringify(s.outbox)}`);
    assert.deepEqual([s.outbox.delivered, s.outbox.dropped, s.recorder.recorded], [recorded, 0, recorded]);
    assert.ok(a.messages().some((m) => /outbox: writing again/.test(m)));

    // In Temporal: every event is in its workflow's history, exactly once.
    const signals = (await a.call({ op: 'signals' }, 60_000)).signals!;
    const ids = Object.values(signals).flat();
    // As many signals as events recorded: none lost, none sent twice. (Ids need not all differ: a DHCP answer's id
    // is its exchange, so a client's retransmitted request answered again carries the same one, by design.)
    assert.equal(ids.length, recorded, `signals in histories: ${ids.length}, recorded ${recorded}`);
    assert.ok(
      Object.values(signals).every((list) => list.length > 0),
      'every host workflow got its events',
    );
    assert.ok(a.alive());
  });
});
