// What a failed lab test prints: the scenario's outcome, each host's last stages, serial console and BMC power
// log, and the scenario's stderr — enough to see why without rerunning a minute of QEMU.
import type { LabRun } from '../../lab/run.ts';

/**
 * One host, compact and first (a CI log keeps only the start of a long message): its whole timeline (stage
 * changes, step timeouts, power cycles and why), its BMC power log and the end of its serial console.
 */
export function explainHost(run: LabRun, name: string): string {
  const h = run.report?.hosts.find((x) => x.name === name);
  if (!h) return `${name}: not in the report (${run.report?.error ?? `exit ${run.exit}`})`;
  const t0 = h.status?.timeline[0]?.at ?? 0;
  const lines = (h.status?.timeline ?? []).map(
    (e) => `+${((e.at - t0) / 1000).toFixed(1)}s ${e.stage} ${e.kind}: ${e.message.slice(0, 160)}`,
  );
  return [
    `${name}: ${h.status?.stage ?? '?'}${h.status?.lastError ? ` (${h.status.lastError})` : ''}`,
    ...lines,
    `power log: ${JSON.stringify(h.machine.powerLog)}`,
    `serial (end): ${h.machine.serial.slice(-1200)}`,
  ].join('\n');
}

export function explainRun(run: LabRun): string {
  const r = run.report;
  const hosts = (r?.hosts ?? []).map((h) => ({
    name: h.name,
    stage: h.status?.stage,
    error: h.status?.lastError,
    timeline: h.status?.timeline.slice(-14).map((e) => `${e.stage} ${e.kind}: ${e.message}`),
    serial: h.machine.serial.slice(-1500),
    power: h.machine.powerLog,
  }));
  return JSON.stringify(
    {
      exit: run.exit,
      error: r?.error,
      outage: r?.outage,
      phases: r?.phases,
      rollout: r?.rollout,
      hosts,
      stderr: run.stderr.slice(-3000),
    },
    null,
    2,
  );
}
