// The agent's on-disk model: the site model (reservations, subnets) and the netboot entries of hosts being
// reprovisioned, each written atomically (temp file + rename) so a crash never leaves a torn file, and read
// back at start so a restarted agent keeps booting hosts while the centre is unreachable.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { NetbootGateInput } from '../domain/activity-contracts.ts';
import type { GateEntry, GateUpdateOutcome, NetbootGate } from '../domain/netboot-gate.ts';
import type { NetbootEntry, Reservation, SiteModel } from '../domain/site-model.ts';

interface GateFile {
  entries: GateEntry[];
}

export class ModelCache implements NetbootGate {
  private site?: SiteModel;
  private readonly gates = new Map<string, GateEntry>();
  private readonly byMac = new Map<string, Reservation>();
  private ignored = new Set<string>();
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string) {}

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  /** Loads what a previous run left; a missing or unreadable cache is an empty one (reported by the caller). */
  async load(): Promise<{ siteModel: boolean; gates: number; problems: string[] }> {
    await mkdir(this.dir, { recursive: true });
    const problems: string[] = [];
    const read = async <T>(name: string): Promise<T | undefined> => {
      try {
        return JSON.parse(await readFile(this.file(name), 'utf8')) as T;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          problems.push(`${name}: ${(err as Error).message}`);
        return undefined;
      }
    };
    const site = await read<SiteModel>('site-model.json');
    if (site) this.setSiteInMemory(site);
    const gates = await read<GateFile>('netboot.json');
    for (const g of gates?.entries ?? []) this.gates.set(g.mac, g);
    return { siteModel: !!site, gates: this.gates.size, problems };
  }

  siteModel(): SiteModel | undefined {
    return this.site;
  }

  reservation(mac: string): Reservation | undefined {
    return this.byMac.get(mac.toLowerCase());
  }

  async setSiteModel(model: SiteModel): Promise<void> {
    this.setSiteInMemory(model);
    await this.persist('site-model.json', model);
  }

  private setSiteInMemory(model: SiteModel): void {
    this.site = model;
    this.byMac.clear();
    for (const r of model.reservations) this.byMac.set(r.mac.toLowerCase(), r);
    this.ignored = new Set((model.ignoredMacs ?? []).map((m) => m.toLowerCase()));
  }

  /** The SoT marks this interface `ignore_dhcp`: the agent never answers it. */
  ignoresDhcp(mac: string): boolean {
    return this.ignored.has(mac.toLowerCase());
  }

  async set(input: NetbootGateInput): Promise<GateUpdateOutcome> {
    const entry: GateEntry = { ...input, mac: input.mac.toLowerCase(), updatedAt: Date.now() };
    const prev = this.gates.get(entry.mac);
    // A late "close" from an older run (a cancelled or superseded one) must not shut the gate a newer run opened.
    if (prev && prev.open && !entry.open && prev.runId !== entry.runId) return 'ignored-other-run';
    // Updates reach an agent out of order when its queue held them while it was down: the newest decision wins.
    if (prev?.issuedAt !== undefined && entry.issuedAt !== undefined && entry.issuedAt < prev.issuedAt)
      return 'ignored-older';
    this.gates.set(entry.mac, entry);
    await this.persist('netboot.json', { entries: [...this.gates.values()] } satisfies GateFile);
    return 'applied';
  }

  lookup(mac: string): GateEntry | undefined {
    return this.gates.get(mac.toLowerCase());
  }

  openEntries(): GateEntry[] {
    return [...this.gates.values()].filter((g) => g.open);
  }

  /** The netboot entry as the boot services see it. */
  netboot(mac: string): NetbootEntry | undefined {
    const g = this.lookup(mac);
    if (!g) return undefined;
    return {
      site: g.site,
      host: g.host,
      mac: g.mac,
      open: g.open,
      sot: g.sot,
      revision: g.revision,
      bootStage: g.bootStage,
      workflowId: g.workflowId,
      runId: g.runId,
      ...(g.artifacts !== undefined ? { artifacts: g.artifacts } : {}),
      ...(g.eventBatches === true ? { eventBatches: true } : {}),
      updatedAt: g.updatedAt,
    };
  }

  /** Writes are serialised so that the last state always wins on disk. */
  private persist(name: string, value: unknown): Promise<void> {
    const target = this.file(name);
    const body = JSON.stringify(value);
    this.writes = this.writes.then(async () => {
      await mkdir(this.dir, { recursive: true });
      const tmp = `${target}.tmp-${process.pid}`;
      await writeFile(tmp, body);
      await rename(tmp, target);
    });
    return this.writes;
  }
}
