// The one place where an HTTP request is bound to a host. A host's iPXE script and unattended config carry its
// checkpoint token, and fetching them moves its workflow on, so they are served only to that host:
//   - a request that names no MAC is the host its source address is bound to (below);
//   - a request that names a MAC is served when its source address is bound to that MAC, or when it carries the
//     boot credential the agent's DHCP gave that MAC for its current run and stage (which then binds the address
//     for the rest of the boot: kernel, initrds, config);
//   - anything else is refused (and counted and logged by the route that answers: refuseBinding), and never
//     becomes a boot event.
// An address is bound to a MAC by, in order: this agent's DHCP (the address it gave or saw), a boot credential
// presented from it, the kernel's neighbour table (the MAC that answers for it on the segment), the host's
// reservation in the site model (a routed host in proxy mode, whose address another DHCP server gave).
import type { CheckpointTokens } from '../checkpoint-token.ts';
import type { ModelCache } from '../model-cache.ts';
import type { NetbootEntry } from '../../domain/site-model.ts';

/** Where an address → MAC binding comes from; the reservation is the last resort. */
export interface AddressBook {
  macFor(ip: string): Promise<string | undefined>;
  bind(ip: string, mac: string): void;
}

export type Binding =
  | { ok: true; entry: NetbootEntry }
  /** No host is known at the request's address, and it names none. */
  | { ok: false; status: 404; kind: 'unknown_host'; reason: string }
  /** No open gate for the host the request is (or names): it boots from disk. */
  | { ok: false; status: 404; kind: 'gate_closed'; reason: string; mac: string }
  /** The request names a host it is not. */
  | { ok: false; status: 403; kind: 'not_this_host'; reason: string; named: string; boundTo?: string };

export class HostBinding {
  /** IPv4 → MAC of the reservations, rebuilt when a new site model arrives. */
  private reservedIndex?: { model: object; byIp: Map<string, string> };

  constructor(
    private readonly book: AddressBook,
    private readonly cache: ModelCache,
    private readonly tokens: CheckpointTokens,
  ) {}

  /** The host a request from `ip` is, given the MAC it names (if any) and the boot credential it shows (if any). */
  async resolve(ip: string, named?: string, credential?: string): Promise<Binding> {
    const bound = (await this.book.macFor(ip)) ?? this.reservedMacOf(ip);
    const mac = named ?? bound;
    if (!mac)
      return { ok: false, status: 404, kind: 'unknown_host', reason: 'no host is known at this address' };
    const entry = this.cache.netboot(mac);
    const open = entry?.open && entry.artifacts ? entry : undefined;
    if (named && bound !== named) {
      // A valid credential proves the request comes from the host's own boot chain.
      if (open && credential && this.tokens.verifyBootCredential(credential, open)) {
        this.book.bind(ip, named);
        return { ok: true, entry: open };
      }
      return {
        ok: false,
        status: 403,
        kind: 'not_this_host',
        reason: `${ip} is not ${named}: only a host's own address or boot credential gets its script and config`,
        named,
        ...(bound ? { boundTo: bound } : {}),
      };
    }
    if (!open)
      return {
        ok: false,
        status: 404,
        kind: 'gate_closed',
        reason: 'no network boot for this host now',
        mac,
      };
    return { ok: true, entry: open };
  }

  private reservedMacOf(ip: string): string | undefined {
    const model = this.cache.siteModel();
    if (!model) return undefined;
    if (this.reservedIndex?.model !== model) {
      const byIp = new Map<string, string>();
      for (const r of model.reservations) if (r.ipv4) byIp.set(r.ipv4, r.mac.toLowerCase());
      this.reservedIndex = { model, byIp };
    }
    return this.reservedIndex.byIp.get(ip);
  }
}
