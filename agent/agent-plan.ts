// What `vaquero agent --config FILE --check` prints: what this config would run — interfaces and DHCP mode, TFTP
// and HTTP, BMC drivers, the task engine, Temporal's endpoint and TLS, the queues — and the problems that would
// stop it, found without starting anything (secrets the config names must resolve; the engine's socket exist; every
// boot file the DHCP answers can name be there to serve: a running agent only logs those, see boot-files-check.ts).
import { stat } from 'node:fs/promises';
import { bootFileNeeds, describeMissing, missingBootFiles } from './boot-files-check.ts';
import { agentTaskQueue, siteTaskQueue } from '../domain/temporal-names.ts';
import type { AgentConfig } from './config.ts';
import { createSecretStore } from './secrets/create-secret-store.ts';
import { siteCapabilities } from './site-capabilities.ts';
import { cachedTftpSubfolder, checkSotSettings } from './sot-settings-check.ts';
import { agentTemporalEndpoint, describeEndpoint } from './temporal-endpoint.ts';

export interface AgentPlan {
  text: string;
  problems: string[];
}

export async function describeAgentPlan(config: AgentConfig): Promise<AgentPlan> {
  const problems: string[] = [];
  const secrets = createSecretStore({
    ...(config.secrets.file !== undefined ? { file: config.secrets.file } : {}),
    ...(config.secrets.dir !== undefined ? { dir: config.secrets.dir } : {}),
  });
  let temporal: string;
  try {
    temporal = describeEndpoint(await agentTemporalEndpoint(config, secrets));
  } catch (err) {
    temporal = 'unusable';
    problems.push(err instanceof Error ? err.message : String(err));
  }
  const capabilities = siteCapabilities(config, secrets);
  const engine = config.tasks.engine;
  if (engine?.startsWith('unix://')) {
    const socket = engine.slice('unix://'.length);
    const st = await stat(socket).catch(() => undefined);
    if (!st?.isSocket())
      problems.push(`tasks.engine: ${socket} is not a socket (is the container engine running?)`);
  }
  if (config.tasks.registry_auth !== undefined) {
    const s = await secrets.resolve(config.tasks.registry_auth).catch(() => undefined);
    if (!s?.username || !s.password)
      problems.push(
        `tasks.registry_auth: secret ${config.tasks.registry_auth} has no username and password (${secrets.describe(config.tasks.registry_auth)})`,
      );
  }
  // The settings of this agent's SoT entry, from the site model its cache holds (the CDN, the TFTP sub-folder).
  const sot = await checkSotSettings(config);
  problems.push(...sot.problems);
  const tftpSub = await cachedTftpSubfolder(config);
  const bootFiles = bootFileNeeds(config, tftpSub);
  const missing = await missingBootFiles(config, tftpSub);
  for (const m of missing) problems.push(`boot file missing: ${describeMissing(m)}`);
  const dhcp = config.dhcp.enabled
    ? `${config.dhcp.mode ?? "the site model's mode (SoT agents[] entry of this agent)"}, ports ${config.dhcp.port}/${config.dhcp.proxy_port}`
    : 'off';
  const lines = [
    `agent ${config.agent_id}, site ${config.site}, data in ${config.data_dir}`,
    `interfaces: ${config.interfaces.map((i) => `${i.name ?? '?'} ${i.address} (${i.cidr})`).join(', ') || 'none'}`,
    `DHCP: ${dhcp}`,
    `TFTP: ${config.tftp.enabled ? `port ${config.tftp.port}, root ${config.tftp.root}` : 'off'}`,
    `boot files: ${bootFiles.map((b) => `${b.file} (${b.field})`).join(', ') || 'none named (DHCP off)'}${bootFiles.length ? ` in ${bootFiles[0]!.root}` : ''}${config.boot_files.arm64 === undefined && config.dhcp.enabled ? '; arm64 iPXE hosts get no answer (no boot_files.arm64; arm64 GRUB hosts get shimaa64.efi)' : ''}`,
    `HTTP: ${config.http.listen}:${config.http.port}${config.http.public_url ? `, reached as ${config.http.public_url}` : ''}`,
    ...sot.lines,
    `BMC drivers: ${Object.keys(capabilities.drivers).sort().join(', ')}${engine ? '' : ' (container: no tasks.engine)'}`,
    `task containers: ${engine ? `${engine}, pull ${config.tasks.pull}, network ${config.tasks.network}${config.tasks.registry_auth ? `, registry credentials ${config.tasks.registry_auth}` : ''}` : 'none (no tasks.engine): boots with tasks fail on this agent'}`,
    `Temporal: ${temporal}`,
    `task queues: ${siteTaskQueue(config.site)} (power, tasks), ${agentTaskQueue(config.site, config.agent_id)} (gates, site model)`,
    ...problems.map((p) => `problem: ${p}`),
    problems.length === 0 ? 'configuration OK' : `${problems.length} problem(s)`,
  ];
  return { text: `${lines.join('\n')}\n`, problems };
}
