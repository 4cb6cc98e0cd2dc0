// `vaquero setup`: prepares this machine, idempotently. Always: a Temporal CLI (the embedded dev server).
// With --lab (what the test suite and `vaquero lab` need, as root): the Debian packages of the lab, and the
// Temporal server with its SQL tool built at the version the CLI embeds (the production-Temporal test), and the
// OpenTelemetry Collector (the trace test).
import { ensureTemporalCli, temporalCliVersion } from '../../temporal/cli-binary.ts';
import { ensureTemporalServer } from '../../temporal/server-build.ts';
import { ensureArm64Packages } from '../setup/arm64-packages.ts';
import { ensureDebianPackages, LAB_PACKAGES } from '../setup/debian-packages.ts';
import { ensurePythonTools } from '../setup/python-tools.ts';
import { ensureOtelCollector } from '../setup/otel-collector.ts';

export async function runSetup(opts: { lab?: boolean }): Promise<void> {
  const say = (msg: string) => process.stdout.write(`setup: ${msg}\n`);
  if (opts.lab) await ensureDebianPackages(LAB_PACKAGES, say);
  if (opts.lab) await ensureArm64Packages(say);
  if (opts.lab) await ensurePythonTools(say);
  say('looking for the Temporal CLI');
  const cli = await ensureTemporalCli({ log: say });
  say(`Temporal CLI ready: ${cli} (${await temporalCliVersion(cli)})`);
  if (opts.lab) {
    say('looking for the Temporal server (temporal-server, temporal-sql-tool)');
    const server = await ensureTemporalServer({ log: say, cliPath: cli });
    say(`Temporal server ${server.version} ready: ${server.dir}`);
    // The trace test's OTLP receiver.
    await ensureOtelCollector(say);
  }
}
