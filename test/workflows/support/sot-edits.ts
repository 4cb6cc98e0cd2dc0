// Edits to a SoT written by testkit/sot.ts for what its fixture does not describe: a workflow's validate_on (or any
// other field), hosts without a BMC.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import type { WrittenSot } from '../../../testkit/sot.ts';

/** Rewrites `workflows/<id>.yml` of a written SoT through `edit`. */
export async function editWorkflow(
  sot: WrittenSot,
  id: string,
  edit: (wf: Record<string, unknown>) => void,
): Promise<void> {
  const file = path.join(sot.dir, 'workflows', `${id}.yml`);
  const wf = parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  edit(wf);
  await writeFile(file, stringify(wf));
}

/** Adds `policy.validate_on` to a workflow of a written SoT. */
export function setValidateOn(sot: WrittenSot, id: string, validateOn: string[]): Promise<void> {
  return editWorkflow(sot, id, (wf) => {
    wf.policy = { ...((wf.policy as object | undefined) ?? {}), validate_on: validateOn };
  });
}

/** Takes the BMC interface off the named hosts of a written SoT. */
export async function dropBmc(sot: WrittenSot, hosts: string[]): Promise<void> {
  const file = path.join(sot.dir, 'sites', sot.site, 'hosts.yml');
  const docs = parseAllDocuments(await readFile(file, 'utf8')).map(
    (d) => d.toJS() as { name: string; interfaces: { type: string }[] },
  );
  for (const d of docs)
    if (hosts.includes(d.name)) d.interfaces = d.interfaces.filter((i) => i.type !== 'bmc');
  await writeFile(file, docs.map((d) => stringify(d)).join('---\n'));
}

/** Sets sim driver knobs (the BMC interface's `options`) of a host of a written SoT. */
export async function setSimOptions(
  sot: WrittenSot,
  host: string,
  options: Record<string, unknown>,
): Promise<void> {
  const file = path.join(sot.dir, 'sites', sot.site, 'hosts.yml');
  const docs = parseAllDocuments(await readFile(file, 'utf8')).map(
    (d) => d.toJS() as { name: string; interfaces: { type: string; options?: Record<string, unknown> }[] },
  );
  const bmc = docs.find((d) => d.name === host)?.interfaces.find((i) => i.type === 'bmc');
  if (!bmc) throw new Error(`no BMC interface on host ${host}`);
  bmc.options = { ...bmc.options, ...options };
  await writeFile(file, docs.map((d) => stringify(d)).join('---\n'));
}

/** Merges `policy` into the site's policy (`sites/<site>/env.yml`) of a written SoT. */
export async function setSitePolicy(sot: WrittenSot, policy: Record<string, unknown>): Promise<void> {
  const file = path.join(sot.dir, 'sites', sot.site, 'env.yml');
  const site = parse(await readFile(file, 'utf8')) as { policy?: Record<string, unknown> };
  site.policy = { ...site.policy, ...policy };
  await writeFile(file, stringify(site));
}
