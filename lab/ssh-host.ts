// The running OS of a lab host driven by the `ssh` BMC driver: a real OpenSSH server (throwaway host key, one
// authorized key, root) on the lab namespace's loopback. The VM itself has no OS to log into, so this sshd
// stands for it; its reboot command (a script in the host's directory) does what a reboot does from outside:
// it resets the VM through its ipmi_sim (the machine's power, which the agent never touches for this host) and
// stops this sshd (a rebooting OS stops answering), each step logged to reboot.log.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from '../temporal/ports.ts';

const run = promisify(execFile);

export interface LabSshd {
  /** 127.0.0.1:<port>, the BMC interface's address in the SoT. */
  address: string;
  port: number;
  pid: number;
  username: string;
  /** The client's private key (OpenSSH PEM), for the agent's secrets file. */
  privateKey: string;
  /** SHA256:… of the host key, as `ssh-keygen -l` prints it (the driver's host_key_sha256 option). */
  hostKeySha256: string;
  /** Epoch ms at which sshd exited, and how (undefined while it runs). */
  exit(): { at: number; how: string } | undefined;
  stop(): Promise<void>;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

async function listening(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

export async function startLabSshd(dir: string): Promise<LabSshd> {
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  for (const key of ['host_key', 'client_key'])
    await run('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      `vaquero-lab-${key}`,
      '-f',
      path.join(dir, key),
    ]);
  await writeFile(
    path.join(dir, 'authorized_keys'),
    await readFile(path.join(dir, 'client_key.pub'), 'utf8'),
  );
  const hostKeySha256 = (
    await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', path.join(dir, 'host_key.pub')])
  ).stdout.split(' ')[1]!;
  // sshd's privilege separation directory; it refuses to start without it.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const config = path.join(dir, 'sshd_config');
  await writeFile(
    config,
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
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
  let exited: { at: number; how: string } | undefined;
  const gone = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = { at: Date.now(), how: signal ?? `exit ${code}` };
      void writeFile(path.join(dir, 'sshd.log'), log).catch(() => undefined);
      resolve();
    }),
  );
  const stop = async () => {
    if (exited) return;
    child.kill('SIGKILL');
    await gone;
  };
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`sshd did not start on 127.0.0.1:${port}: ${log}`);
    }
    await delay(50);
  }
  return {
    address: `127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    username: 'root',
    privateKey: await readFile(path.join(dir, 'client_key'), 'utf8'),
    hostKeySha256,
    exit: () => exited,
    stop,
  };
}

/**
 * The reboot command's script: resets the VM through its ipmi_sim (lanplus, -C 3, the password from a file),
 * then stops the sshd by its pid. Written to `file` (mode 700) with its log beside it.
 */
export async function writeRebootScript(
  file: string,
  o: { bmcPort: number; username: string; password: string; sshdPid: number; log: string },
): Promise<void> {
  const passwordFile = `${file}.password`;
  await writeFile(passwordFile, `${o.password}\n`, { mode: 0o600 });
  await writeFile(
    file,
    [
      '#!/bin/sh',
      '# A lab host "rebooting": the machine is reset through its BMC and its OS (the sshd) stops answering.',
      `LOG=${q(o.log)}`,
      'echo "$(date +%s.%N) reboot requested over ssh" >> "$LOG"',
      `if /usr/bin/ipmitool -I lanplus -H 127.0.0.1 -p ${o.bmcPort} -U ${q(o.username)} -f ${q(passwordFile)} -C 3 chassis power reset >> "$LOG" 2>&1; then`,
      '  echo "$(date +%s.%N) VM reset through its BMC" >> "$LOG"',
      'else',
      '  echo "$(date +%s.%N) VM reset failed" >> "$LOG"; exit 1',
      'fi',
      `kill -TERM ${o.sshdPid} && echo "$(date +%s.%N) sshd ${o.sshdPid} stopped" >> "$LOG"`,
      'exit 0',
      '',
    ].join('\n'),
  );
  await chmod(file, 0o700);
}

/** The reboot log's lines: the script's own with their time (epoch ms), ipmitool's output as is. */
export async function rebootLog(file: string): Promise<{ at?: number; what: string }[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const m = /^(\d+(?:\.\d+)?) (.*)$/.exec(l);
      return m ? { at: Math.round(Number(m[1]) * 1000), what: m[2]! } : { what: l };
    });
}
