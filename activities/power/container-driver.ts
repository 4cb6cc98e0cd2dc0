// The `container` driver: a custom BMC program in a container image (the original Vaquero's model), run once
// per BMC call through dockerode. Options:
//   image         required; pulled when missing
//   command       entrypoint override (a list), optional
//   env           extra environment (a mapping), optional
//   binds         extra bind mounts ("host:container[:ro]"), optional
//   network_mode  default host (the BMC network is the agent's)
//   timeout_s     per call, default 60 (then the container is killed)
//
// Protocol. The container gets BMC_ACTION = status | on | off | cycle | reset | bootdev-set | bootdev-get,
// BMC_ADDRESS, BMC_HOST, BMC_MAC, for bootdev-set also BMC_BOOT_DEVICE (network | disk | uefi-http | none) and
// BMC_BOOT_PERSISTENT (true | false), and BMC_CREDENTIALS_FILE: a JSON file ({"username", "password", "token",
// "privateKey"}, those the secret has) on a read-only mount that exists only while the container runs — never
// in its environment, so `docker inspect` does not show it. It answers on stdout with `key: value` lines:
// `power: on|off` for status, `boot: <device>` and `persistent: true|false` for bootdev-get (a device outside
// the list above is shown to operators as is). Exit 0 is success; exit 2 is a permanent failure (wrong
// credentials, unsupported action), any other exit a passing one worth retrying; stderr says why.
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import type { BmcTarget, BootDevice, BootDeviceReading, PowerDriver, PowerState } from './driver.ts';
import { BmcError, throwIfAborted } from './driver.ts';
import { optNumber, optString, optStringList } from './bmc-options.ts';
import { demuxLogs } from '../tasks/container-logs.ts';
import { ensureImage, ImagePullError } from '../tasks/image-pull.ts';

const DEVICES: readonly string[] = ['network', 'disk', 'uefi-http', 'none'];

export class ContainerDriver implements PowerDriver {
  readonly name = 'container' as const;

  constructor(private readonly docker: Docker) {}

  async powerStatus(t: BmcTarget): Promise<PowerState> {
    const out = await this.call(t, 'status');
    const power = out.power;
    if (power !== 'on' && power !== 'off')
      throw new BmcError(`BMC container for ${t.bmc.address}: status gave no "power: on|off" line`);
    return power;
  }

  async powerOn(t: BmcTarget): Promise<void> {
    await this.call(t, 'on');
  }

  async powerOff(t: BmcTarget): Promise<void> {
    await this.call(t, 'off');
  }

  async powerCycle(t: BmcTarget): Promise<void> {
    await this.call(t, 'cycle');
  }

  async powerReset(t: BmcTarget): Promise<void> {
    await this.call(t, 'reset');
  }

  async setBootDevice(
    t: BmcTarget,
    device: Exclude<BootDevice, 'other'>,
    opts: { persistent: boolean },
  ): Promise<void> {
    await this.call(t, 'bootdev-set', {
      BMC_BOOT_DEVICE: device,
      BMC_BOOT_PERSISTENT: String(opts.persistent),
    });
  }

  async getBootDevice(t: BmcTarget): Promise<BootDeviceReading> {
    const out = await this.call(t, 'bootdev-get');
    const raw = out.boot;
    if (!raw)
      throw new BmcError(`BMC container for ${t.bmc.address}: bootdev-get gave no "boot: <device>" line`);
    return {
      device: (DEVICES.includes(raw) ? raw : 'other') as BootDevice,
      persistent: out.persistent === 'true',
      raw,
    };
  }

  /** Runs the BMC container for one action; resolves with its `key: value` answers. */
  private async call(
    t: BmcTarget,
    action: string,
    extraEnv: Record<string, string> = {},
  ): Promise<Record<string, string>> {
    throwIfAborted(t.signal);
    const o = t.bmc.options;
    const image = optString(o, 'image');
    if (!image) throw new BmcError(`BMC container for ${t.bmc.address}: the option image is missing`, false);
    const where = `BMC container ${image} for ${t.bmc.address}`;
    try {
      await ensureImage(this.docker, image, 'if-missing', () => undefined);
    } catch (err) {
      if (err instanceof ImagePullError) throw new BmcError(`${where}: ${err.message}`);
      throw err;
    }
    const userEnv =
      o.env && typeof o.env === 'object' && !Array.isArray(o.env) ? (o.env as Record<string, unknown>) : {};
    // The credentials travel in a file on a private mount, gone when the call ends.
    const secretDir = await mkdtemp(path.join(tmpdir(), 'vaq-bmc-'));
    await chmod(secretDir, 0o700);
    await writeFile(path.join(secretDir, 'credentials.json'), JSON.stringify(t.credentials ?? {}), {
      mode: 0o600,
    });
    const env: Record<string, string> = {
      ...Object.fromEntries(Object.entries(userEnv).map(([k, v]) => [k, String(v)])),
      BMC_ACTION: action,
      BMC_ADDRESS: t.bmc.address,
      BMC_HOST: t.host,
      BMC_MAC: t.mac,
      BMC_CREDENTIALS_FILE: '/run/vaquero-bmc/credentials.json',
      ...extraEnv,
    };
    const command = optStringList(o, 'command');
    const timeout = optNumber(o, 'timeout_s', 60) * 1000;
    let container: Docker.Container | undefined;
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const kill = () => void container?.kill({ signal: 'SIGKILL' }).catch(() => undefined);
    t.signal?.addEventListener('abort', kill, { once: true });
    try {
      container = await this.docker.createContainer({
        name: `vaq-bmc-${t.host.replace(/[^a-zA-Z0-9_.-]/g, '-')}-${action}-${randomBytes(3).toString('hex')}`,
        Image: image,
        ...(command ? { Entrypoint: command } : {}),
        Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
        Labels: { 'vaquero.site': t.site, 'vaquero.host': t.host, 'vaquero.bmc-action': action },
        HostConfig: {
          NetworkMode: optString(o, 'network_mode', 'host'),
          Binds: [`${secretDir}:/run/vaquero-bmc:ro`, ...(optStringList(o, 'binds') ?? [])],
        },
      });
      await container.start();
      // Cancelled before the container existed: kill() had nothing to kill then.
      if (t.signal?.aborted) kill();
      timer = setTimeout(() => {
        timedOut = true;
        kill();
      }, timeout);
      const { StatusCode: code } = (await container.wait()) as { StatusCode: number };
      throwIfAborted(t.signal);
      const stdout = demuxLogs(
        (await container.logs({ stdout: true, stderr: false, follow: false })) as Buffer,
      );
      const stderr = demuxLogs(
        (await container.logs({ stdout: false, stderr: true, follow: false })) as Buffer,
      );
      if (timedOut) throw new BmcError(`${where}: ${action} timed out after ${timeout / 1000}s (killed)`);
      if (code !== 0) {
        const why = stderr.trim().split('\n').slice(-3).join(' / ') || 'no output';
        throw new BmcError(`${where}: ${action} failed (exit ${code}): ${why}`, code !== 2);
      }
      return parseAnswers(stdout);
    } finally {
      clearTimeout(timer);
      t.signal?.removeEventListener('abort', kill);
      await container?.remove({ force: true }).catch(() => undefined);
      await rm(secretDir, { recursive: true, force: true });
    }
  }
}

export function parseAnswers(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^\s*([A-Za-z_-]+)\s*:\s*(.*?)\s*$/.exec(line);
    if (m) out[m[1]!.toLowerCase()] = m[2]!;
  }
  return out;
}
