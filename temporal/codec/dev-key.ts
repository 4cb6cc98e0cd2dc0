// The key of a stack vaquero runs for itself (`vaquero dev`, an embedded Temporal): made once in its data
// directory, readable by its owner only, so the demo's histories are encrypted as production's are.
import { randomBytes } from 'node:crypto';
import { mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { CodecSettings } from './codec-settings.ts';
import { KEY_BYTES } from './codec-keys.ts';

export const DEV_KEY_ID = 'dev';
export const DEV_KEY_FILE = 'codec-key';

export async function devCodecSettings(
  dataDir: string,
): Promise<CodecSettings & { keys: { id: string; file: string }[] }> {
  const file = path.join(dataDir, DEV_KEY_FILE);
  await mkdir(dataDir, { recursive: true });
  let made = false;
  try {
    // 'wx': never overwrite a key that histories were written under.
    const h = await open(file, 'wx', 0o600);
    try {
      await h.writeFile(randomBytes(KEY_BYTES).toString('hex') + '\n');
    } finally {
      await h.close();
    }
    made = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  if (!made) {
    const s = await stat(file);
    if ((s.mode & 0o077) !== 0) {
      throw new Error(
        `payload codec: ${file} is readable by others (mode ${(s.mode & 0o777).toString(8)}); chmod 600 it`,
      );
    }
  }
  return { keys: [{ id: DEV_KEY_ID, file }] };
}
