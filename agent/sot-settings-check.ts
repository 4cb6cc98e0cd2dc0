// What `vaquero agent --check` says about the settings this agent takes from its SoT agents[] entry (the site model
// in its cache: what a restarted agent serves with): the CDN /assets/ proxies to (`cdn_url`, or the config's
// `assets.upstream`, which wins) must answer, and the TFTP sub-folder (`tftp_root`) must be a folder inside the
// configured tftp.root. The SoT validates their form; only the agent's machine can tell whether they work here.
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { AgentConfig } from './config.ts';
import type { SiteAgent, SiteModel } from '../domain/site-model.ts';
import { ownAgentEntry } from './own-agent.ts';
import { realPathInside } from './tftp/path-safety.ts';

export interface SotSettingsReport {
  lines: string[];
  problems: string[];
}

/** The site model the agent's cache holds (model-cache.ts writes it), read without changing anything. */
async function cachedSiteModel(config: AgentConfig): Promise<SiteModel | undefined> {
  try {
    return JSON.parse(
      await readFile(path.join(config.data_dir, 'cache', 'site-model.json'), 'utf8'),
    ) as SiteModel;
  } catch {
    return undefined;
  }
}

/** Whether the origin answers at all (any HTTP status: `/` of a CDN may well be 403 or 404). */
async function originProblem(origin: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const res = await fetch(`${origin.replace(/\/+$/, '')}/`, {
      method: 'HEAD',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel().catch(() => undefined);
    return undefined;
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
  }
}

async function tftpProblem(config: AgentConfig, sub: string): Promise<string | undefined> {
  const root = await realpath(path.resolve(config.tftp.root)).catch(() => undefined);
  if (root === undefined) return `the TFTP root ${config.tftp.root} does not exist`;
  const found = await realPathInside({ root, trusted: [] }, sub);
  if (!found.ok) return found.reason === 'file not found' ? 'no such folder' : found.reason;
  const st = await stat(found.path).catch(() => undefined);
  return st?.isDirectory() ? undefined : 'not a folder';
}

export async function checkSotSettings(
  config: AgentConfig,
  opts: { originTimeoutMs?: number } = {},
): Promise<SotSettingsReport> {
  const model = await cachedSiteModel(config);
  const own: SiteAgent | undefined = ownAgentEntry(model, config.agent_id);
  const lines: string[] = [];
  const problems: string[] = [];
  if (!model)
    lines.push('SoT entry: no site model cached yet (its cdn_url and tftp_root apply once it arrives)');
  else if (!own)
    problems.push(
      `SoT entry: site model ${model.site}@${model.revision} lists no agent ${config.agent_id} (agents[].id)`,
    );
  const origin = config.assets.upstream ?? own?.cdnUrl;
  const from = config.assets.upstream !== undefined ? 'assets.upstream' : 'SoT cdn_url';
  if (origin !== undefined) {
    lines.push(
      `assets CDN: ${origin} (${from}), cached in ${path.join(config.data_dir, 'asset-cache')} up to ${config.assets.cache_max_bytes} bytes`,
    );
    const why = await originProblem(origin, opts.originTimeoutMs ?? 5000);
    if (why !== undefined) problems.push(`assets CDN ${origin} (${from}) unreachable: ${why}`);
  } else lines.push('assets CDN: none (local files only)');
  if (own?.tftpRoot !== undefined) {
    lines.push(`TFTP folder: ${own.tftpRoot} in ${config.tftp.root} (SoT tftp_root)`);
    if (config.tftp.enabled) {
      const why = await tftpProblem(config, own.tftpRoot);
      if (why !== undefined)
        problems.push(
          `SoT tftp_root "${own.tftpRoot}": ${path.join(config.tftp.root, own.tftpRoot)}: ${why}`,
        );
    }
  }
  return { lines, problems };
}

/** The TFTP sub-folder the cached site model names for this agent (for the boot file check). */
export async function cachedTftpSubfolder(config: AgentConfig): Promise<string | undefined> {
  return ownAgentEntry(await cachedSiteModel(config), config.agent_id)?.tftpRoot;
}
