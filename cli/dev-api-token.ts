// The operate token of `vaquero dev`'s REST API: made once, kept in the data directory (mode 0600), so a restarted
// stack keeps it and scripts can read it (`curl -H "Authorization: Bearer $(cat …/api-token)"`).
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** `name`: the file's name; `api-read-token` holds the read token (the dashboard without its buttons). */
export async function devApiToken(
  dataDir: string,
  name = 'api-token',
): Promise<{ value: string; file: string }> {
  const file = path.join(dataDir, name);
  try {
    const value = (await readFile(file, 'utf8')).trim();
    if (value.length >= 32) return { value, file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const value = randomBytes(32).toString('base64url');
  await writeFile(file, `${value}\n`, { mode: 0o600 });
  return { value, file };
}
