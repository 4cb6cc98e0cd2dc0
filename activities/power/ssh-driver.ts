// The `ssh` driver, for hosts with no BMC: a soft reboot from inside the running OS. The address is host[:port];
// the secret holds a username and a private key (or a password). Options:
//   reboot_command    default `sudo -n reboot`
//   poweroff_command  default `sudo -n poweroff`
//   soft_timeout_s    how long the host may take to go down after the reboot command (default 120)
//   host_key_sha256   the host key's SHA-256 fingerprint (base64, as `ssh-keygen -l` prints it after SHA256:);
//                     when set, any other key is refused
//   connect_timeout_s default 10
// "Power" is reachability: on = an ssh login works. Nothing can power such a host on, and it has no boot
// override: it must boot from the network first in its firmware's order, and the agent's netboot gate decides
// whether it gets a boot file. So the reprovision path is softReboot(): reboot, then verify the host went down.
import { Client } from 'ssh2';
import type { ConnectConfig } from 'ssh2';
import type { BmcTarget, BootDeviceReading, PowerDriver, PowerState } from './driver.ts';
import { BmcError, splitHostPort, throwIfAborted } from './driver.ts';
import { optNumber, optString } from './bmc-options.ts';
import { sleep } from './wait.ts';

type Login = { ok: true; client: Client } | { ok: false; reason: 'unreachable' | 'auth'; message: string };

export class SshDriver implements PowerDriver {
  readonly name = 'ssh' as const;

  async powerStatus(t: BmcTarget): Promise<PowerState> {
    const login = await this.connect(t);
    if (login.ok) {
      login.client.end();
      return 'on';
    }
    if (login.reason === 'auth') throw new BmcError(login.message, false);
    return 'off';
  }

  powerOn(t: BmcTarget): Promise<void> {
    return Promise.reject(
      new BmcError(
        `ssh host ${t.bmc.address} is unreachable, and without a BMC nothing can power it on`,
        false,
      ),
    );
  }

  async powerOff(t: BmcTarget): Promise<void> {
    await this.runAndDrop(t, optString(t.bmc.options, 'poweroff_command', 'sudo -n poweroff'));
  }

  async powerCycle(t: BmcTarget): Promise<void> {
    await this.runAndDrop(t, optString(t.bmc.options, 'reboot_command', 'sudo -n reboot'));
  }

  powerReset(t: BmcTarget): Promise<void> {
    return this.powerCycle(t);
  }

  setBootDevice(t: BmcTarget): Promise<void> {
    return Promise.reject(
      new BmcError(
        `ssh host ${t.bmc.address} has no BMC: its boot device cannot be set (it must boot from the network first)`,
        false,
      ),
    );
  }

  getBootDevice(t: BmcTarget): Promise<BootDeviceReading> {
    return Promise.reject(
      new BmcError(`ssh host ${t.bmc.address} has no BMC: its boot device cannot be read`, false),
    );
  }

  /** Reboot from inside the OS, then wait (soft_timeout_s) until the host stops answering. */
  async softReboot(t: BmcTarget, progress: (step: string) => void): Promise<string> {
    progress('ssh: checking the host is reachable');
    if ((await this.powerStatus(t)) === 'off') {
      throw new BmcError(
        `ssh host ${t.bmc.address} is unreachable, and without a BMC nothing can power it on`,
        false,
      );
    }
    const command = optString(t.bmc.options, 'reboot_command', 'sudo -n reboot');
    progress(`ssh: ${command}`);
    await this.runAndDrop(t, command);
    const timeout = optNumber(t.bmc.options, 'soft_timeout_s', 120) * 1000;
    const started = Date.now();
    for (;;) {
      if ((await this.powerStatus(t)) === 'off')
        return `rebooted over ssh (${command}); down after ${((Date.now() - started) / 1000).toFixed(1)}s; next boot from the firmware's order`;
      if (Date.now() - started >= timeout) {
        throw new BmcError(
          `reboot not applied: ssh host ${t.bmc.address} still answers ${timeout / 1000}s after "${command}"`,
          false,
        );
      }
      progress('ssh: waiting for the host to go down');
      await sleep(1000, t.signal);
    }
  }

  /** Runs a command that may end the connection (reboot, poweroff): a dropped connection is success. */
  private async runAndDrop(t: BmcTarget, command: string): Promise<void> {
    const login = await this.connect(t);
    if (!login.ok) throw new BmcError(login.message, login.reason === 'unreachable');
    const client = login.client;
    try {
      await new Promise<void>((resolve, reject) => {
        client.exec(command, (err, stream) => {
          if (err) return reject(err);
          let stderr = '';
          stream.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-500)));
          stream.on('data', () => undefined);
          stream.on('exit', (c: number | null) => {
            if (c !== null && c !== 0)
              reject(
                new BmcError(
                  `ssh host ${t.bmc.address}: "${command}" failed (exit ${c}): ${stderr.trim() || 'no output'}`,
                  false,
                ),
              );
          });
          stream.on('close', () => resolve());
        });
        client.on('close', () => resolve());
      });
    } finally {
      client.end();
    }
  }

  private connect(t: BmcTarget): Promise<Login> {
    throwIfAborted(t.signal);
    const { host, port } = splitHostPort(t.bmc.address, 22);
    const c = t.credentials;
    if (!c?.username || (!c.privateKey && c.password === undefined)) {
      throw new BmcError(
        `ssh host ${t.bmc.address} needs a username and a private key or password (credentials reference: ${t.bmc.credentials ?? 'none'})`,
        false,
      );
    }
    const pinned = optString(t.bmc.options, 'host_key_sha256');
    let keyMismatch = false;
    const cfg: ConnectConfig = {
      host,
      port,
      username: c.username,
      ...(c.privateKey
        ? { privateKey: c.privateKey }
        : c.password !== undefined
          ? { password: c.password }
          : {}),
      readyTimeout: optNumber(t.bmc.options, 'connect_timeout_s', 10) * 1000,
      ...(pinned
        ? {
            hostHash: 'sha256',
            hostVerifier: (hash: string) => {
              const ok =
                Buffer.from(hash, 'hex').toString('base64').replace(/=+$/, '') ===
                pinned.replace(/^SHA256:/, '').replace(/=+$/, '');
              keyMismatch = !ok;
              return ok;
            },
          }
        : {}),
    };
    return new Promise((resolve) => {
      const client = new Client();
      const onAbort = () => client.end();
      t.signal?.addEventListener('abort', onAbort, { once: true });
      const done = (r: Login) => {
        t.signal?.removeEventListener('abort', onAbort);
        resolve(r);
      };
      client.once('ready', () => done({ ok: true, client }));
      client.once('error', (err: Error & { level?: string }) => {
        client.end();
        if (keyMismatch)
          done({
            ok: false,
            reason: 'auth',
            message: `ssh host ${t.bmc.address}: host key does not match host_key_sha256`,
          });
        else if (err.level === 'client-authentication')
          done({
            ok: false,
            reason: 'auth',
            message: `ssh host ${t.bmc.address}: login as ${c.username} refused — wrong key or password`,
          });
        else done({ ok: false, reason: 'unreachable', message: `ssh host ${t.bmc.address}: ${err.message}` });
      });
      client.connect(cfg);
    });
  }
}
