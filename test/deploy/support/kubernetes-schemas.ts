// Kubernetes schema validation for the manifests in deploy/kubernetes, with schemas from a package registry:
// the npm package `kubernetes-models` (the Kubernetes OpenAPI schemas compiled to validators), pinned and
// installed into vaquero's cache dir — never the repository's dependencies — only when that version is not
// there yet. (kubeconform fetches its schemas from a web site this machine cannot reach.)
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { vaqueroCacheDir } from '../../../temporal/cache-dir.ts';

const run = promisify(execFile);

export const KUBERNETES_MODELS_VERSION = '5.1.0';

interface Model {
  validate(): void;
}
type ModelClass = new (data: unknown) => Model;

async function installedVersion(dir: string): Promise<string | undefined> {
  return readFile(path.join(dir, 'node_modules', 'kubernetes-models', 'package.json'), 'utf8').then(
    (t) => (JSON.parse(t) as { version: string }).version,
    () => undefined,
  );
}

/** Installs the pinned kubernetes-models (when missing) and returns its directory. */
export async function ensureKubernetesModels(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const dir = path.join(vaqueroCacheDir(env), 'kubernetes-models');
  if ((await installedVersion(dir)) === KUBERNETES_MODELS_VERSION) return dir;
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'package.json'), '{ "private": true }\n');
  await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      '--save-exact',
      `kubernetes-models@${KUBERNETES_MODELS_VERSION}`,
    ],
    { cwd: dir, timeout: 180_000, maxBuffer: 16 * 2 ** 20 },
  );
  const now = await installedVersion(dir);
  if (now !== KUBERNETES_MODELS_VERSION)
    throw new Error(
      `kubernetes-models ${KUBERNETES_MODELS_VERSION} did not install in ${dir} (${now ?? 'none'})`,
    );
  return dir;
}

/**
 * Validates one manifest object against the schema of its apiVersion and kind; throws with the schema's
 * messages. (These schemas do not reject unknown fields: the tests assert the fields that matter by name.)
 */
export async function validateManifest(
  dir: string,
  doc: { apiVersion?: unknown; kind?: unknown },
): Promise<void> {
  if (typeof doc.apiVersion !== 'string' || typeof doc.kind !== 'string')
    throw new Error('a manifest without apiVersion and kind');
  if (!/^([a-z0-9.-]+\/)?v\d+(alpha\d+|beta\d+)?$/.test(doc.apiVersion) || !/^[A-Z][A-Za-z]+$/.test(doc.kind))
    throw new Error(`not a Kubernetes type: ${doc.apiVersion} ${doc.kind}`);
  const file = path.join(dir, 'node_modules', 'kubernetes-models', doc.apiVersion, `${doc.kind}.js`);
  const mod = (await import(pathToFileURL(file).href).catch((err: unknown) => {
    throw new Error(`no schema for ${doc.apiVersion} ${doc.kind} (${file})`, { cause: err });
  })) as Record<string, ModelClass | undefined>;
  const Kind = mod[doc.kind];
  if (!Kind) throw new Error(`kubernetes-models has no ${doc.kind} in ${file}`);
  new Kind(doc).validate();
}
