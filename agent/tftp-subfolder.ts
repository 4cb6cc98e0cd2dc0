// The folder this agent's TFTP (and HTTP boot) serves, relative to its configured `tftp.root`: its SoT agents[]
// entry's `tftp_root`, read from the site model at each request (it may arrive or change after start). As a TFTP
// resolve hook: a name (already lexically safe: no "..") is looked up in that sub-folder, and the server's
// confinement to tftp.root still applies to what it resolves to, so the SoT can never widen what the operator's
// root serves.
import type { ModelCache } from './model-cache.ts';
import { ownAgentEntry } from './own-agent.ts';
import type { TftpPeer, TftpResolved } from './tftp/index.ts';

export type TftpResolver = (name: string, peer: TftpPeer) => Promise<TftpResolved | undefined>;

/** The sub-folder, or undefined for the root itself. */
export function ownTftpSubfolder(cache: ModelCache, agentId: string): string | undefined {
  return ownAgentEntry(cache.siteModel(), agentId)?.tftpRoot;
}

export function tftpSubfolderResolver(cache: ModelCache, agentId: string): TftpResolver {
  return async (name) => {
    const sub = ownTftpSubfolder(cache, agentId);
    return sub === undefined ? undefined : { path: `${sub}/${name}` };
  };
}

/** The first answer of several resolve hooks, in order (e.g. generated files first, then the sub-folder). */
export function firstResolved(...resolvers: TftpResolver[]): TftpResolver {
  return async (name, peer) => {
    for (const r of resolvers) {
      const found = await r(name, peer);
      if (found !== undefined) return found;
    }
    return undefined;
  };
}
