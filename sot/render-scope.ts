// The variables templates see (FORMAT.md, "Templates"). Every documented field is always present — null or an
// empty list when the SoT leaves it out — so that a template can test it while a misspelt name stays an error.
import type { AgentSpec, PhysicalInterfaceSpec, SiteSpec, SubnetSpec } from './schema.ts';

export type Metadata = Record<string, unknown>;

export interface SubnetScope {
  id: string;
  cidr: string;
  netmask: string;
  gateway: string | null;
  dns: string[];
  ntp: string[];
  domain: string | null;
}

export interface InterfaceScope {
  mac: string;
  ipv4: string | null;
  ipv6: string | null;
  hostname: string | null;
  subnet: string;
  identifier: string | null;
}

export interface UrlsScope {
  agent: string;
  ipxe: string;
  config: string;
  assets: string;
  checkpoint: string;
  /** Where the installer posts its log lines (same per-run token as the checkpoint). */
  log: string;
}

export function netmaskOf(cidr: string): string {
  const bits = Number(cidr.slice(cidr.indexOf('/') + 1));
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return [24, 16, 8, 0].map((s) => (mask >>> s) & 0xff).join('.');
}

export function subnetScope(s: SubnetSpec): SubnetScope {
  return {
    id: s.id,
    cidr: s.cidr,
    netmask: netmaskOf(s.cidr),
    gateway: s.gateway ?? null,
    dns: [...(s.dns ?? [])],
    ntp: [...(s.ntp ?? [])],
    domain: s.domain ?? null,
  };
}

export function interfaceScope(i: PhysicalInterfaceSpec): InterfaceScope {
  return {
    mac: i.mac.toLowerCase(),
    ipv4: i.ipv4 ?? null,
    ipv6: i.ipv6 ?? null,
    hostname: i.hostname ?? null,
    subnet: i.subnet,
    identifier: i.identifier ?? null,
  };
}

export function siteScope(id: string, s: SiteSpec): object {
  const allSubnets = s.subnets.map((n) => n.id);
  return {
    id,
    description: s.description ?? null,
    metadata: s.metadata ?? {},
    subnets: s.subnets.map(subnetScope),
    agents: s.agents.map((a) => ({
      id: a.id,
      http_url: a.http_url,
      dhcp_mode: a.dhcp_mode,
      subnets: [...(a.subnets ?? allSubnets)],
    })),
  };
}

/** The agent that serves `subnet`: the first one listing it, or serving all subnets (no list). */
export function agentFor(site: SiteSpec, subnet: string): AgentSpec | undefined {
  return site.agents.find((a) => !a.subnets || a.subnets.includes(subnet));
}

export function urlsScope(
  agentUrl: string,
  mac: string,
  stageIndex: number,
  checkpointToken: string,
): UrlsScope {
  const agent = agentUrl.replace(/\/+$/, '');
  return {
    agent,
    ipxe: `${agent}/ipxe?mac=${mac}`,
    config: `${agent}/config/${mac}?stage=${stageIndex}`,
    assets: `${agent}/assets`,
    checkpoint: `${agent}/checkpoint/${checkpointToken}`,
    log: `${agent}/log/${checkpointToken}`,
  };
}

function isPlainMap(v: unknown): v is Metadata {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Metadata layers merged in order, later wins; nested maps merge key by key, anything else is replaced. Keys
 * are defined as own properties, so a YAML key named `__proto__` stays data and never becomes a prototype.
 */
export function mergeMetadata(...layers: (Metadata | undefined)[]): Metadata {
  const out: Metadata = {};
  for (const layer of layers) {
    if (!layer) continue;
    for (const [k, v] of Object.entries(layer)) {
      const prev = Object.prototype.hasOwnProperty.call(out, k) ? out[k] : undefined;
      const value = isPlainMap(prev) && isPlainMap(v) ? mergeMetadata(prev, v) : v;
      Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
    }
  }
  return out;
}
