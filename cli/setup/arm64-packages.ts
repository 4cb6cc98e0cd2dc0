// The arm64 lab VM's Debian packages (test/lab/arm64.test.ts, README's boot paths): arm64 as a foreign dpkg
// architecture, so apt has the arm64 package lists, then the signed arm64 shim and GRUB and the arm64
// busybox-static downloaded and unpacked into the cache (lab/arm64-packages.ts), never installed. Idempotent: with
// arm64 present and the files cached, it changes nothing and needs neither root nor the network.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { arm64Enabled, ensureArm64Files } from '../../lab/arm64-packages.ts';

const run = promisify(execFile);

export async function ensureArm64Packages(say: (msg: string) => void): Promise<void> {
  if (!(await arm64Enabled())) {
    if (process.getuid?.() !== 0)
      throw new Error(
        'apt has no arm64 packages (run as root, or: dpkg --add-architecture arm64 && apt-get update)',
      );
    say('adding arm64 as a foreign architecture (dpkg --add-architecture arm64; apt-get update)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    await run('dpkg', ['--add-architecture', 'arm64'], { env });
    await run('apt-get', ['update', '-qq'], { env, maxBuffer: 64 * 2 ** 20 });
  }
  const got = await ensureArm64Files();
  say(`arm64 packages unpacked: ${Object.values(got.debs).join(', ')}`);
}
