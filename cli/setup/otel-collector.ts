// The OpenTelemetry Collector the trace test sends vaquero's spans through (DESIGN.md §5: real peers). The
// collector's own core distribution (`otelcorecol`) is not published as a Go module, so this builds the same kind
// of program its builder (`ocb`) generates: a main of our own with the OTLP receiver and the OTLP/HTTP and debug
// exporters, from the Go module proxy at one pinned version, into vaquero's cache dir (never the repository).
// Built once: a binary that reports the pinned version is reused. Two builds racing only waste CPU: the binary
// is written under a temporary name and renamed, and Go's caches are safe for concurrent use.
import { execFile, spawn } from 'node:child_process';
import { appendFile, chmod, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { vaqueroCacheDir } from '../../temporal/cache-dir.ts';

const run = promisify(execFile);

/** The collector's component modules (receivers, exporters, otelcol, service) share this version. */
export const OTEL_COLLECTOR_VERSION = 'v0.165.0';
/** Its stable modules (confmap providers) are versioned apart; this is the one released with it. */
const OTEL_COLLECTOR_STABLE_VERSION = 'v1.71.0';

const MODULES = [
  `go.opentelemetry.io/collector/otelcol@${OTEL_COLLECTOR_VERSION}`,
  `go.opentelemetry.io/collector/service@${OTEL_COLLECTOR_VERSION}`,
  `go.opentelemetry.io/collector/receiver/otlpreceiver@${OTEL_COLLECTOR_VERSION}`,
  `go.opentelemetry.io/collector/exporter/otlphttpexporter@${OTEL_COLLECTOR_VERSION}`,
  `go.opentelemetry.io/collector/exporter/debugexporter@${OTEL_COLLECTOR_VERSION}`,
  `go.opentelemetry.io/collector/confmap/provider/fileprovider@${OTEL_COLLECTOR_STABLE_VERSION}`,
];

const MAIN_GO = `// A minimal OpenTelemetry Collector for vaquero's tests: the OTLP receiver, the OTLP/HTTP and debug exporters,
// configuration from a file. Written by cli/setup/otel-collector.ts; the shape is the collector builder's.
package main

import (
	"os"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

func components() (otelcol.Factories, error) {
	var err error
	factories := otelcol.Factories{Telemetry: otelconftelemetry.NewFactory()}
	if factories.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory()); err != nil {
		return otelcol.Factories{}, err
	}
	if factories.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](otlphttpexporter.NewFactory(), debugexporter.NewFactory()); err != nil {
		return otelcol.Factories{}, err
	}
	return factories, nil
}

func main() {
	set := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "vaquero-otelcol", Description: "OpenTelemetry Collector for vaquero's tests", Version: "${OTEL_COLLECTOR_VERSION}"},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},
				DefaultScheme:     "file",
			},
		},
	}
	if err := otelcol.NewCommand(set).Execute(); err != nil {
		os.Exit(1)
	}
}
`;

export function otelCollectorPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(vaqueroCacheDir(env), `otelcol-${OTEL_COLLECTOR_VERSION}`);
}

async function reportsVersion(binary: string): Promise<boolean> {
  try {
    const { stdout } = await run(binary, ['--version'], { timeout: 30_000 });
    return stdout.trim() === `vaquero-otelcol version ${OTEL_COLLECTOR_VERSION}`;
  } catch {
    return false;
  }
}

/** The collector binary, built first when the cache has none at the pinned version. */
export async function ensureOtelCollector(
  say: (msg: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const binary = otelCollectorPath(env);
  if (await reportsVersion(binary)) return binary;
  const moduleDir = path.join(vaqueroCacheDir(env), `otelcol-build-${OTEL_COLLECTOR_VERSION}`);
  const logPath = path.join(moduleDir, 'build.log');
  await mkdir(moduleDir, { recursive: true });
  await appendFile(logPath, `\n=== ${new Date().toISOString()} build (pid ${process.pid})\n`);
  const goEnv = { ...env, CGO_ENABLED: '0' };
  const go = (args: string[]) => goLogged(args, moduleDir, goEnv, logPath);
  say(`building the OpenTelemetry Collector ${OTEL_COLLECTOR_VERSION} into ${binary} (log: ${logPath})`);
  await writeFile(path.join(moduleDir, 'main.go'), MAIN_GO);
  await rm(path.join(moduleDir, 'go.mod'), { force: true });
  await rm(path.join(moduleDir, 'go.sum'), { force: true });
  await go(['mod', 'init', 'vaquero.local/otelcol-build']);
  await go(['get', ...MODULES]);
  // The modules' own dependencies (telemetry, resource detectors) the build needs sums for.
  await go(['mod', 'tidy']);
  const tmp = `${binary}.tmp-${process.pid}`;
  try {
    await go(['build', '-o', tmp, '.']);
    await chmod(tmp, 0o755);
    await rename(tmp, binary);
  } finally {
    await rm(tmp, { force: true });
  }
  if (!(await reportsVersion(binary)))
    throw new Error(`the freshly built ${binary} does not report ${OTEL_COLLECTOR_VERSION}`);
  say(`OpenTelemetry Collector ready: ${binary}`);
  return binary;
}

async function goLogged(args: string[], cwd: string, env: NodeJS.ProcessEnv, logPath: string): Promise<void> {
  await appendFile(logPath, `$ go ${args.join(' ')}\n`);
  const fh = await open(logPath, 'a');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('go', args, { cwd, env, stdio: ['ignore', fh.fd, fh.fd] });
      child.once('error', (err) =>
        reject(new Error(`cannot run \`go\` (is Go installed and on PATH?): ${err.message}`)),
      );
      child.once('exit', (c, signal) => resolve(signal ? null : c));
    });
    if (code !== 0) {
      const tail = (await readFile(logPath, 'utf8')).split('\n').slice(-30).join('\n');
      throw new Error(
        `building the OpenTelemetry Collector: \`go ${args.join(' ')}\` failed (exit ${code ?? 'by signal'}); last lines of ${logPath}:\n${tail}`,
      );
    }
  } finally {
    await fh.close();
  }
}
