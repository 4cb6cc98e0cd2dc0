// Per-run tokens: HMACs of the workflow run under a key only the agent holds. Nothing has to be stored or sent
// through Temporal (so no token is in any history), and a token cannot be guessed or reused for another run.
// Two purposes, never interchangeable: the checkpoint token (the installed OS reports done) and the boot credential
// (the agent's DHCP hands it to the host's iPXE in its script URL, so a host whose address the agent cannot tie to
// its MAC — a relayed or proxy-mode boot — still proves it is the host the script belongs to).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Credentials remembered: more than the open gates of any site, bounded all the same. */
const CREDENTIAL_CACHE = 20_000;

export class CheckpointTokens {
  private readonly credentials = new Map<string, string>();

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
    return sameText(token, this.tokenFor(workflowId, runId, bootStage));
  }

  /** 128 bits are plenty and keep the script URL short (DHCP's boot file field). */
  bootCredential(g: RunGate): string {
    return createHmac('sha256', this.key)
      .update(`boot\n${g.workflowId}\n${g.runId}\n${g.bootStage}\n${g.mac}`)
      .digest()
      .subarray(0, 16)
      .toString('base64url');
  }

  verifyBootCredential(credential: string, g: RunGate): boolean {
    // Computed once per gate: a host's script and config fetches (and the DHCP answers before them) ask again.
    const key = `${g.workflowId}\n${g.runId}\n${g.bootStage}\n${g.mac}`;
    let want = this.credentials.get(key);
    if (want === undefined) {
      want = this.bootCredential(g);
      if (this.credentials.size >= CREDENTIAL_CACHE)
        this.credentials.delete(this.credentials.keys().next().value!);
      this.credentials.set(key, want);
    }
    return sameText(credential, want);
  }
}

/** What a boot credential binds: one MAC in one stage of one workflow run. */
export interface RunGate {
  workflowId: string;
  runId: string;
  bootStage: number;
  mac: string;
}

function sameText(got: string, want: string): boolean {
  const a = Buffer.from(got);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}
