// Per-run checkpoint tokens: an HMAC of the workflow run under a key only the agent holds. Nothing has to be
// stored or sent through Temporal (so no token is in any history), and a token cannot be guessed or reused
// for another run.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export class CheckpointTokens {
  constructor(private readonly key: Buffer) {}

  /** Loads the agent's key from its data dir, creating it (mode 0600) on first start. */
  static async fromDataDir(dir: string): Promise<CheckpointTokens> {
    const file = path.join(dir, 'checkpoint.key');
    try {
      return new CheckpointTokens(Buffer.from((await readFile(file, 'utf8')).trim(), 'hex'));
    } catch {
      await mkdir(dir, { recursive: true });
      const key = randomBytes(32);
      await writeFile(file, key.toString('hex') + '\n', { mode: 0o600, flag: 'wx' }).catch(
        async () => undefined,
      );
      return new CheckpointTokens(Buffer.from((await readFile(file, 'utf8')).trim(), 'hex'));
    }
  }

  tokenFor(workflowId: string, runId: string, bootStage: number): string {
    return createHmac('sha256', this.key).update(`${workflowId}\n${runId}\n${bootStage}`).digest('base64url');
  }

  verify(token: string, workflowId: string, runId: string, bootStage: number): boolean {
    const want = Buffer.from(this.tokenFor(workflowId, runId, bootStage));
    const got = Buffer.from(token);
    return got.length === want.length && timingSafeEqual(got, want);
  }
}
