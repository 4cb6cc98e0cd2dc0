// Reading a two-agent lab report (lab/scenario.ts with spec.secondAgent): hosts, phases, and each host's boot events
// as its history holds them, by the agent that recorded each. Shared by two-agents*.test.ts.
import assert from 'node:assert/strict';
import type { PhaseReport, ScenarioHost, ScenarioReport, SecondAgentReport } from '../../lab/scenario.ts';
import { metricSum } from '../../lab/second-agent.ts';

export interface HostEvent {
  kind: string;
  agent: string;
  detail: string;
  /** Epoch ms. */
  at: number;
}

export function host(r: ScenarioReport, name: string): ScenarioHost {
  const h = r.hosts.find((x) => x.name === name);
  assert.ok(h, `no report for ${name}`);
  return h;
}

export function phase(r: ScenarioReport, name: string): PhaseReport {
  const p = r.phases.find((x) => x.name === name);
  assert.ok(p, `no phase ${name}`);
  return p;
}

/**
 * A host's boot events in one phase (`<kind> from <agent>: <detail>` in its timeline), in history order. The
 * installer's log summaries (`log`) are no boot step: they are left out, as the lab's boot report leaves them out.
 */
export function events(p: PhaseReport, host: string): HostEvent[] {
  return (p.hosts[host]?.events ?? [])
    .map((e) => {
      const m = /^(\S+) from (\S+?): (.*)$/s.exec(e.message);
      return { kind: m?.[1] ?? '?', agent: m?.[2] ?? '?', detail: m?.[3] ?? e.message, at: e.at };
    })
    .filter((e) => e.kind !== 'log');
}

/** A host's DHCP events in one phase: the agent that gave each, and what. */
export function dhcpEvents(p: PhaseReport, host: string): { agent: string; detail: string }[] {
  return events(p, host)
    .filter((e) => e.kind === 'dhcp')
    .map(({ agent, detail }) => ({ agent, detail }));
}

/**
 * Whether the host's boot went through `killed` when it was SIGKILLed: its iPXE script came from that agent
 * before the kill and its checkpoint had not arrived. Its iPXE held that agent's URLs: the kernel or initrd fetch
 * from it failed, and the served script went back to DHCP and chained the script of the agent still up
 * (sot/ipxe-script.ts withBootRetry), with no power cycle.
 */
export function bootedThroughKilled(p: PhaseReport, host: string, killed: string, killedAt: number): boolean {
  const ev = events(p, host);
  const script = ev.find((e) => e.kind === 'ipxe');
  const checkpoint = ev.find((e) => e.kind === 'checkpoint');
  return script?.agent === killed && script.at < killedAt && !(checkpoint && checkpoint.at < killedAt);
}

/**
 * Each DHCP answer once in a host's history, whichever agent gave it: both agents answer every DISCOVER and
 * REQUEST in server mode, and an answer's event id is the same from either (its exchange), so the same message
 * from the other agent never follows it.
 */
export function assertDhcpOnce(dhcp: { agent: string; detail: string }[], host: string): void {
  const type = (d: { detail: string }) => d.detail.split(' ')[0];
  for (let i = 1; i < dhcp.length; i++) {
    const [a, b] = [dhcp[i - 1]!, dhcp[i]!];
    assert.ok(
      !(type(a) === type(b) && a.agent !== b.agent),
      `${host}: ${type(a)} from both agents: ${JSON.stringify(dhcp)}`,
    );
  }
}

/**
 * One boot in a host's history: after its last iPXE script, one kernel and one initrd from the agent that served
 * that script, then one checkpoint (the tiny OS's own DHCP may come between). Before that script: DHCP, and what
 * a boot through an agent killed meanwhile got before the retry (its script, a kernel sent whole), nothing else.
 */
export function assertOneBoot(ev: HostEvent[], host: string): void {
  const show = ev.map((e) => `${e.kind}@${e.agent}`).join(',');
  const last = ev.map((e) => e.kind).lastIndexOf('ipxe');
  assert.ok(last >= 0, `${host}: no iPXE script: ${show}`);
  const tail = ev.slice(last).filter((e) => e.kind !== 'dhcp');
  assert.deepEqual(
    tail.map((e) => e.kind),
    ['ipxe', 'kernel', 'initrd', 'checkpoint'],
    `${host}: ${show}`,
  );
  assert.ok(
    tail.slice(0, 3).every((e) => e.agent === tail[0]!.agent),
    `${host}: script, kernel and initrd from one agent: ${show}`,
  );
  const before = ev.slice(0, last).filter((e) => e.kind !== 'dhcp');
  assert.ok(
    before.every((e) => ['ipxe', 'kernel', 'initrd'].includes(e.kind) && e.agent !== tail[0]!.agent),
    `${host}: before the last script, only what another agent served: ${show}`,
  );
}

/**
 * No boot event left the second agent's outbox undelivered without a log line and a metric: since its restart,
 * each event dropped for having no running workflow (those it held when killed, delivered once the runs were
 * over) is one `outbox: event … dropped` line and one count of vaquero_agent_outbox_dropped_total, and nothing was
 * dropped for another reason. Returns how many were dropped.
 */
export function assertDropsLogged(a2: SecondAgentReport): number {
  const m = a2.metrics ?? {};
  const lines = (a2.outboxLog ?? []).filter((l) =>
    /^outbox: event \S+ \(\w+\) for \S+ dropped: no running workflow/.test(l),
  );
  assert.equal(
    metricSum(m, 'vaquero_agent_outbox_dropped_total', { reason: 'no_workflow' }),
    lines.length,
    JSON.stringify(a2.outboxLog),
  );
  assert.equal(metricSum(m, 'vaquero_agent_outbox_dropped_total'), lines.length, JSON.stringify(m));
  assert.equal(metricSum(m, 'vaquero_agent_boot_events_total', { outcome: 'failed' }), 0);
  return lines.length;
}

/**
 * Hosts the killed agent had given a DHCPACK but, by its access log, no iPXE script when it was SIGKILLed. Their
 * firmware was left holding the killed agent's script URL (or boot file), and its own fetch failed before any
 * script of ours ran, so nothing on the host could retry: the workflow's step timeout and one more power cycle are
 * the designed recovery (the case two-agents.test.ts's header calls not coverable). The ACK is read from the
 * host's history or, when it had not left the killed agent's outbox, from the drops logged after its restart.
 */
export function strandedByKill(
  p: PhaseReport,
  a2: SecondAgentReport,
  killed: string,
  killedAt: number,
  vms: readonly { name: string; mac: string }[],
): Set<string> {
  const scripts = new Set(
    (a2.servedBeforeKill ?? [])
      .filter((q) => q.url.startsWith('/ipxe?') && q.status === 200)
      .map((q) => /mac=([^&]+)/.exec(decodeURIComponent(q.url))?.[1]),
  );
  const out = new Set<string>();
  for (const vm of vms) {
    const acked =
      events(p, vm.name).some(
        (e) => e.kind === 'dhcp' && e.agent === killed && e.detail.startsWith('DHCPACK') && e.at < killedAt,
      ) ||
      (a2.outboxLog ?? []).some((l) =>
        new RegExp(
          `^outbox: event dhcp/${vm.mac}/\\S+/DHCPACK \\(dhcp\\) for host/\\S+/${vm.name} dropped`,
        ).test(l),
      );
    if (acked && !scripts.has(vm.mac)) out.add(vm.name);
  }
  return out;
}
