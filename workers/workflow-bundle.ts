// Workflow code is bundled once per process and shared by every worker in it (bundling takes seconds). An image
// bundles it once at build time instead: `node --import tsx workers/workflow-bundle.ts FILE` writes the bundle,
// and with VAQUERO_WORKFLOW_BUNDLE=FILE every worker loads that file (no bundling, no bundler work at start).
// Every bundle holds the tracing interceptors (workflows/tracing-interceptors.ts): a workflow is traced when its
// start carried a trace context, whichever worker runs it, so tracing on or off never changes a replay.
import { bundleWorkflowCode } from '@temporalio/worker';
import type { WorkflowBundle, WorkflowBundlePath } from '@temporalio/worker';
import { access, constants, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

let bundle: Promise<WorkflowBundle | WorkflowBundlePath> | undefined;

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** Bundled with the workflows as their interceptor module; a worker given a bundle cannot add one. */
export const WORKFLOW_INTERCEPTORS_PATH = fileURLToPath(
  new URL('../workflows/tracing-interceptors.ts', import.meta.url),
);

const bundleOptions = () => ({
  workflowsPath: WORKFLOWS_PATH,
  workflowInterceptorModules: [WORKFLOW_INTERCEPTORS_PATH],
  logger: quietLogger,
});

/** The environment variable naming a bundle prebuilt by `writeWorkflowBundle` (the image sets it). */
export const PREBUILT_BUNDLE_ENV = 'VAQUERO_WORKFLOW_BUNDLE';

export function workflowBundle(
  env: NodeJS.ProcessEnv = process.env,
): Promise<WorkflowBundle | WorkflowBundlePath> {
  bundle ??= prebuiltOrBundle(env[PREBUILT_BUNDLE_ENV]);
  return bundle;
}

async function prebuiltOrBundle(prebuilt: string | undefined): Promise<WorkflowBundle | WorkflowBundlePath> {
  if (!prebuilt) return bundleWorkflowCode(bundleOptions());
  const codePath = path.resolve(prebuilt);
  // Named but not there is a broken install, not a reason to bundle quietly from whatever source is around.
  await access(codePath, constants.R_OK).catch((err: unknown) => {
    throw new Error(`${PREBUILT_BUNDLE_ENV}=${prebuilt}: cannot read the prebuilt workflow bundle`, {
      cause: err,
    });
  });
  return { codePath };
}

/** Bundles the workflow code and writes it to `file` (the image's build step). */
export async function writeWorkflowBundle(file: string): Promise<number> {
  const { code } = await bundleWorkflowCode(bundleOptions());
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, code);
  return code.length;
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop };

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: node --import tsx workers/workflow-bundle.ts OUTPUT.js\n');
    process.exit(2);
  }
  const bytes = await writeWorkflowBundle(out);
  process.stdout.write(`workflow bundle: ${out} (${bytes} bytes)\n`);
}
