// The ssh driver against a real OpenSSH server the test starts on 127.0.0.1 (throwaway host key, one authorized
// key). The machine is never rebooted: the "reboot" command given to the driver stops that sshd by its pid,
// which is what a rebooting host looks like from outside.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { cycleToNetwork } from '../../../activities/power/cycle-to-network.ts';
import type { BmcTarget } from '../../../activities/power/driver.ts';
import { BmcError } from '../../../activities/power/driver.ts';
import { SshDriver } from '../../../activities/power/ssh-driver.ts';
import { freePort } from '../../../temporal/ports.ts';

const run = promisify(execFile);
let dir: string;
let port: number;
let sshd: ChildProcess | undefined;
let clientKey: string;
let otherKey: string;
let hostKeySha256: string;
const user = userInfo().username;
const driver = new SshDriver();

async function keygen(name: string): Promise<string> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, name)]);
  return readFile(path.join(dir, name), 'utf8');
}

async function startSshd(): Promise<void> {
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(dir, 'sshd_config')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  sshd = child;
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return;
    if (child.exitCode !== null) break;
    await delay(50);
  }
  throw new Error('sshd did not start');
}

async function stopSshd(): Promise<void> {
  const child = sshd;
  sshd = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'vaq-sshd-'));
  port = await freePort();
  await keygen('host_key');
  clientKey = await keygen('client_key');
  otherKey = await keygen('other_key');
  await writeFile(
    path.join(dir, 'authorized_keys'),
    await readFile(path.join(dir, 'client_key.pub'), 'utf8'),
  );
  hostKeySha256 = (
    await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', path.join(dir, 'host_key.pub')])
  ).stdout.split(' ')[1]!;
  // sshd's privilege separation directory; sshd refuses to start without it.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  await writeFile(
    path.join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(dir, 'host_key')}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      '',
    ].join('\n'),
  );
  await startSshd();
});
after(async () => {
  await stopSshd();
  await rm(dir, { recursive: true, force: true });
});

const target = (options: Record<string, unknown> = {}, key = clientKey): BmcTarget => ({
  site: 's',
  host: 'h',
  mac: '52:54:00:00:00:09',
  bmc: { driver: 'ssh', address: `127.0.0.1:${port}`, credentials: 'lab-ssh', options },
  credentials: { username: user, privateKey: key },
});

test('power status is reachability: on with the authorized key; a wrong key is a clear, non-retryable error', async () => {
  assert.equal(await driver.powerStatus(target()), 'on');
  await assert.rejects(driver.powerStatus(target({}, otherKey)), (e: unknown) => {
    assert.ok(e instanceof BmcError && !e.retryable, String(e));
    assert.equal(e.message, `ssh host 127.0.0.1:${port}: login as ${user} refused — wrong key or password`);
    return true;
  });
});

test('host key pinning: the right fingerprint connects, another is refused', async () => {
  assert.equal(await driver.powerStatus(target({ host_key_sha256: hostKeySha256 })), 'on');
  await assert.rejects(
    driver.powerStatus(target({ host_key_sha256: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })),
    /host key does not match host_key_sha256/,
  );
});

test('a reboot command that does not take the host down fails after the soft timeout', async () => {
  await assert.rejects(
    cycleToNetwork(driver, target({ reboot_command: 'true', soft_timeout_s: 1 })),
    (e: unknown) => {
      assert.ok(e instanceof BmcError && !e.retryable, String(e));
      assert.equal(e.message, `reboot not applied: ssh host 127.0.0.1:${port} still answers 1s after "true"`);
      return true;
    },
  );
  // A reboot command that fails says so, with its output.
  await assert.rejects(
    driver.powerCycle(target({ reboot_command: 'echo nope >&2; exit 5' })),
    /"echo nope >&2; exit 5" failed \(exit 5\): nope/,
  );
});

test('cycle to network over ssh: the reboot command runs, the host goes down, and it cannot be powered on again', async () => {
  const marker = path.join(dir, 'rebooted');
  const steps: string[] = [];
  // "Reboot": leave a mark, then stop this test's sshd by its pid (the listener; the session ends with it).
  const detail = await cycleToNetwork(
    driver,
    target({ reboot_command: `echo yes > ${marker}; kill ${sshd!.pid}`, soft_timeout_s: 20 }),
    { progress: (s) => steps.push(s) },
  );
  assert.match(
    detail,
    /^rebooted over ssh \(echo yes > .*; kill \d+\); down after \d+\.\ds; next boot from the firmware's order$/,
  );
  assert.equal((await readFile(marker, 'utf8')).trim(), 'yes');
  assert.deepEqual(steps.slice(0, 2), [
    'ssh: checking the host is reachable',
    `ssh: echo yes > ${marker}; kill ${sshd!.pid}`,
  ]);
  await stopSshd();

  assert.equal(await driver.powerStatus(target()), 'off');
  await assert.rejects(
    cycleToNetwork(driver, target()),
    /is unreachable, and without a BMC nothing can power it on/,
  );
  await startSshd();
  assert.equal(await driver.powerStatus(target()), 'on');
});
