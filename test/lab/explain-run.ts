// What a failed lab test prints: the scenario's outcome, each host's last stages, serial console and BMC power
// log, and the scenario's stderr — enough to see why without rerunning a minute of QEMU.
import type { LabRun } from '../../lab/run.ts';

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
