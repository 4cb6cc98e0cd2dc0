// Helpers for workflow tests of real BMCs and task containers: a sim site worker with extra drivers, secrets and
// a task runner (the shared test stack starts plain sim sites only), and edits to a written SoT.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { SimDelays } from '../../../sim/sim-delays.ts';
import { startWorkerStack } from '../../../workers/stack.ts';
import type { SimSite, SimSiteExtras } from '../../../sim/sim-site.ts';
import { FAST_SIM_DELAYS } from '../../../testkit/stack.ts';
import type { TestStack } from '../../../testkit/stack.ts';
import type { WrittenSot } from '../../../testkit/sot.ts';

export async function startSiteWithExtras(
  stack: TestStack,
  site: string,
  extras: SimSiteExtras,
  delays: Partial<SimDelays> = {},
): Promise<SimSite & { stop(): Promise<void> }> {
  const s = await startWorkerStack({
    connection: await stack.temporal.nativeConnection(),
    client: stack.client,
    dataConverter: stack.temporal.dataConverter,
    namespace: stack.namespace,
    dataDir: stack.dataDir,
    control: false,
    simSites: [site],
    simDelays: { ...FAST_SIM_DELAYS, ...delays },
    siteExtras: extras,
  });
  return { ...s.sims.get(site)!, stop: () => s.stop() };
}

/** Replaces a host's BMC interface (driver, address, credentials reference, options). */
export async function setBmc(
  sot: WrittenSot,
  host: string,
  bmc: { driver: string; address: string; credentials?: string; options?: Record<string, unknown> },
): Promise<void> {
  const file = path.join(sot.dir, 'sites', sot.site, 'hosts.yml');
  const docs = parseAllDocuments(await readFile(file, 'utf8')).map(
    (d) => d.toJS() as { name: string; interfaces: { type: string }[] },
  );
  const h = docs.find((d) => d.name === host);
  if (!h) throw new Error(`no host ${host} in ${file}`);
  h.interfaces = h.interfaces.map((i) => (i.type === 'bmc' ? { type: 'bmc', ...bmc } : i));
  await writeFile(file, docs.map((d) => stringify(d)).join('---\n'));
}

/** Adds a boot (boot/<id>.yml) to the SoT. */
export async function addBoot(sot: WrittenSot, id: string, boot: Record<string, unknown>): Promise<void> {
  await writeFile(path.join(sot.dir, 'boot', `${id}.yml`), stringify(boot));
}
