// Remembers which power operations (by idempotency key) already happened, on disk, so that an activity retried
// after a worker crash does not power-cycle a host a second time.
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export interface PowerOpRecord {
  opId: string;
  host: string;
  at: number;
  detail: string;
}

export class PowerOpLog {
  private loaded?: Promise<Map<string, PowerOpRecord>>;

  constructor(private readonly file: string) {}

  private load(): Promise<Map<string, PowerOpRecord>> {
    this.loaded ??= readFile(this.file, 'utf8').then(
      (text) => {
        const m = new Map<string, PowerOpRecord>();
        for (const line of text.split('\n')) {
          if (!line.trim()) continue;
          try {
            const r = JSON.parse(line) as PowerOpRecord;
            m.set(r.opId, r);
          } catch {
            // A torn last line from a crash mid-write: the operation it describes did not complete.
          }
        }
        return m;
      },
      () => new Map<string, PowerOpRecord>(),
    );
    return this.loaded;
  }

  async get(opId: string): Promise<PowerOpRecord | undefined> {
    return (await this.load()).get(opId);
  }

  async record(r: PowerOpRecord): Promise<void> {
    const m = await this.load();
    await mkdir(path.dirname(this.file), { recursive: true });
    await appendFile(this.file, JSON.stringify(r) + '\n');
    m.set(r.opId, r);
  }

  async all(): Promise<PowerOpRecord[]> {
    return [...(await this.load()).values()];
  }
}
