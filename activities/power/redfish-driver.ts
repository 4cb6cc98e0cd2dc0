// The `redfish` driver. The address is a URL (`https://10.0.0.5`, `http://127.0.0.1:8000`) or host[:port]
// (then https). Options (the BMC interface's `options`):
//   insecure_tls  true: accept any certificate (self-signed BMCs); default false: verify
//   ca_file       a PEM file to verify this BMC's certificate against
//   auth          auto (default: a session when the service root links a session collection, else basic) |
//                 session | basic. A secret with a `token` uses it as the X-Auth-Token directly.
//   system        the ComputerSystem (its @odata.id or Id); default: the only member of /redfish/v1/Systems
//   boot_mode     UEFI | Legacy: also sets BootSourceOverrideMode
//   http_boot_uri for uefi-http: the HttpBootUri to boot
//   timeout_s     per request, default 30
//   soft_reboot, soft_timeout_s: a graceful shutdown (GracefulShutdown) first, see cycle-to-network.ts
// Writes: ComputerSystem.Reset with a ResetType the system allows (@Redfish.AllowableValues; a soft off is
// GracefulShutdown or nothing), and a PATCH of Boot {BootSourceOverrideTarget, BootSourceOverrideEnabled}
// with If-Match when the system has an ETag. Every write is read back by cycle-to-network.ts.
import { readFile } from 'node:fs/promises';
import type { BmcTarget, BootDevice, BootDeviceReading, PowerDriver, PowerState } from './driver.ts';
import { BmcError, throwIfAborted } from './driver.ts';
import { optBool, optNumber, optString } from './bmc-options.ts';
import type { HttpRequest, HttpResponse } from './redfish-http.ts';
import { httpJson, redfishErrorMessage } from './redfish-http.ts';

type Json = Record<string, unknown>;
type ResetKind = 'on' | 'off' | 'soft off' | 'cycle' | 'reset';

/** ResetType preferences per operation, best first; the first the system allows is used. */
const RESET_TYPES: Record<ResetKind, string[]> = {
  on: ['On', 'ForceOn'],
  off: ['ForceOff', 'GracefulShutdown'],
  // Only a graceful shutdown is one: a BMC without it refuses, and cycle-to-network.ts forces the host off.
  'soft off': ['GracefulShutdown'],
  cycle: ['PowerCycle', 'ForceRestart', 'GracefulRestart'],
  reset: ['ForceRestart', 'GracefulRestart', 'PowerCycle'],
};

const TARGETS: Record<Exclude<BootDevice, 'other'>, string> = {
  network: 'Pxe',
  disk: 'Hdd',
  'uefi-http': 'UefiHttp',
  none: 'None',
};

interface Session {
  token: string;
  /** URL of the session resource, deleted on release. */
  location?: string;
}

export class RedfishDriver implements PowerDriver {
  readonly name = 'redfish' as const;
  private readonly sessions = new Map<string, Promise<Session | undefined>>();
  private readonly systems = new Map<string, string>();

  async powerStatus(t: BmcTarget): Promise<PowerState> {
    const sys = (await this.system(t)).json as Json;
    const state = sys.PowerState;
    // A system on its way up is not on yet; one on its way down is not off yet.
    if (state === 'On' || state === 'PoweringOff') return 'on';
    if (state === 'Off' || state === 'PoweringOn') return 'off';
    throw new BmcError(`Redfish BMC ${t.bmc.address}: unexpected PowerState ${JSON.stringify(state)}`);
  }

  powerOn(t: BmcTarget): Promise<void> {
    return this.reset(t, 'on');
  }

  powerOff(t: BmcTarget): Promise<void> {
    return this.reset(t, 'off');
  }

  powerSoftOff(t: BmcTarget): Promise<void> {
    return this.reset(t, 'soft off');
  }

  powerCycle(t: BmcTarget): Promise<void> {
    return this.reset(t, 'cycle');
  }

  powerReset(t: BmcTarget): Promise<void> {
    return this.reset(t, 'reset');
  }

  async setBootDevice(
    t: BmcTarget,
    device: Exclude<BootDevice, 'other'>,
    opts: { persistent: boolean },
  ): Promise<void> {
    const res = await this.system(t);
    const sys = res.json as Json;
    const boot = (sys.Boot ?? {}) as Json;
    const target = TARGETS[device];
    const allowed = boot['BootSourceOverrideTarget@Redfish.AllowableValues'];
    if (device !== 'none' && Array.isArray(allowed) && !allowed.includes(target)) {
      throw new BmcError(
        `Redfish BMC ${t.bmc.address} does not offer boot target ${target} (it allows ${allowed.join(', ')})`,
        false,
      );
    }
    const o = t.bmc.options;
    const patch: Json = {
      BootSourceOverrideTarget: target,
      BootSourceOverrideEnabled: device === 'none' ? 'Disabled' : opts.persistent ? 'Continuous' : 'Once',
    };
    const mode = optString(o, 'boot_mode');
    if (mode) patch.BootSourceOverrideMode = mode;
    const uri = optString(o, 'http_boot_uri');
    if (device === 'uefi-http' && uri) patch.HttpBootUri = uri;
    const etag = etagOf(res);
    const r = await this.call(
      t,
      'PATCH',
      this.systemUrl(t),
      { Boot: patch },
      etag ? { 'If-Match': etag } : {},
    );
    if (r.status === 412)
      throw new BmcError(
        `Redfish BMC ${t.bmc.address}: the system changed while the boot override was set (ETag mismatch)`,
      );
    if (r.status === 428)
      throw new BmcError(
        `Redfish BMC ${t.bmc.address} requires If-Match but sent no ETag for ${this.systemUrl(t)}`,
        false,
      );
    this.check(t, r, 'set the boot override');
  }

  async getBootDevice(t: BmcTarget): Promise<BootDeviceReading> {
    const boot = ((await this.system(t)).json as Json).Boot as Json | undefined;
    const target =
      typeof boot?.BootSourceOverrideTarget === 'string' ? boot.BootSourceOverrideTarget : 'None';
    const enabled =
      typeof boot?.BootSourceOverrideEnabled === 'string' ? boot.BootSourceOverrideEnabled : 'Disabled';
    if (enabled === 'Disabled')
      return { device: 'none', persistent: false, raw: `${target} (override disabled)` };
    const device = (Object.entries(TARGETS).find(([, v]) => v === target)?.[0] ?? 'other') as BootDevice;
    return { device, persistent: enabled === 'Continuous', raw: target };
  }

  async release(t: BmcTarget): Promise<void> {
    const key = sessionKey(t);
    const pending = this.sessions.get(key);
    this.sessions.delete(key);
    const s = await pending?.catch(() => undefined);
    if (!s?.location) return;
    // Ending the session is courtesy (BMCs have few session slots); it must not fail the operation.
    await this.raw(t, 'DELETE', new URL(s.location, this.base(t)), undefined, {
      'X-Auth-Token': s.token,
    }).catch(() => undefined);
  }

  private async reset(t: BmcTarget, kind: ResetKind): Promise<void> {
    const sys = (await this.system(t)).json as Json;
    const action = ((sys.Actions ?? {}) as Json)['#ComputerSystem.Reset'] as Json | undefined;
    if (!action || typeof action.target !== 'string')
      throw new BmcError(
        `Redfish BMC ${t.bmc.address}: the system has no ComputerSystem.Reset action`,
        false,
      );
    const allowed = await this.allowedResetTypes(t, action);
    const type = RESET_TYPES[kind].find((r) => !allowed || allowed.includes(r));
    if (!type) {
      if (kind === 'cycle') {
        // No restart of any kind: off, then on, is still a cycle.
        await this.reset(t, 'off');
        return this.reset(t, 'on');
      }
      throw new BmcError(
        `Redfish BMC ${t.bmc.address} allows no ResetType for power ${kind} (it allows ${allowed?.join(', ')})`,
        false,
      );
    }
    const r = await this.call(t, 'POST', new URL(action.target, this.base(t)), { ResetType: type });
    this.check(t, r, `ComputerSystem.Reset ${type}`);
  }

  /** @Redfish.AllowableValues on the action, or the ResetType parameter of its @Redfish.ActionInfo. */
  private async allowedResetTypes(t: BmcTarget, action: Json): Promise<string[] | undefined> {
    const inline = action['ResetType@Redfish.AllowableValues'];
    if (Array.isArray(inline)) return inline.filter((v): v is string => typeof v === 'string');
    const info = action['@Redfish.ActionInfo'];
    if (typeof info !== 'string') return undefined;
    const r = await this.call(t, 'GET', new URL(info, this.base(t)));
    if (r.status !== 200) return undefined;
    const params = ((r.json as Json | undefined)?.Parameters ?? []) as Json[];
    const values = params.find((p) => p.Name === 'ResetType')?.AllowableValues;
    return Array.isArray(values) ? values.filter((v): v is string => typeof v === 'string') : undefined;
  }

  /** GET of the ComputerSystem (discovered once per BMC). */
  private async system(t: BmcTarget): Promise<HttpResponse> {
    const r = await this.call(t, 'GET', await this.resolveSystem(t));
    this.check(t, r, 'read the system');
    return r;
  }

  private systemUrl(t: BmcTarget): URL {
    const path = this.systems.get(t.bmc.address);
    if (!path) throw new Error('system not resolved');
    return new URL(path, this.base(t));
  }

  private async resolveSystem(t: BmcTarget): Promise<URL> {
    if (!this.systems.has(t.bmc.address)) {
      const named = optString(t.bmc.options, 'system');
      let path: string;
      if (named?.startsWith('/')) path = named;
      else {
        const r = await this.call(t, 'GET', new URL('/redfish/v1/Systems', this.base(t)));
        this.check(t, r, 'list the systems');
        const members = (((r.json as Json | undefined)?.Members ?? []) as Json[]).map((m) =>
          String(m['@odata.id']),
        );
        const pick = named
          ? members.find((m) => m.replace(/\/$/, '').endsWith(`/${named}`))
          : members.length === 1
            ? members[0]
            : undefined;
        if (!pick) {
          throw new BmcError(
            named
              ? `Redfish BMC ${t.bmc.address} has no system ${named} (it has ${members.join(', ') || 'none'})`
              : `Redfish BMC ${t.bmc.address} has ${members.length} systems (${members.join(', ')}): name one with the option system`,
            false,
          );
        }
        path = pick;
      }
      this.systems.set(t.bmc.address, path);
    }
    return this.systemUrl(t);
  }

  /** An authenticated request; a session that expired is renewed once. */
  private async call(
    t: BmcTarget,
    method: HttpRequest['method'],
    url: URL,
    body?: unknown,
    extra: Record<string, string> = {},
  ): Promise<HttpResponse> {
    for (let attempt = 1; ; attempt++) {
      const auth = await this.authHeaders(t);
      const r = await this.raw(t, method, url, body, { ...auth.headers, ...extra });
      if (r.status === 401 && auth.session && attempt === 1) {
        this.sessions.delete(sessionKey(t));
        continue;
      }
      if (r.status === 401 || r.status === 403) {
        throw new BmcError(
          `Redfish BMC ${t.bmc.address}: ${auth.session ? 'session' : 'basic'} login as ${t.credentials?.username ?? '(token)'} refused — wrong username, password or token (HTTP ${r.status})`,
          false,
        );
      }
      return r;
    }
  }

  private async authHeaders(t: BmcTarget): Promise<{ headers: Record<string, string>; session: boolean }> {
    const c = t.credentials;
    if (c?.token) return { headers: { 'X-Auth-Token': c.token }, session: false };
    if (c?.username === undefined || c.password === undefined) {
      throw new BmcError(
        `Redfish BMC ${t.bmc.address} needs a username and password or a token (credentials reference: ${t.bmc.credentials ?? 'none'})`,
        false,
      );
    }
    const key = sessionKey(t);
    if (!this.sessions.has(key)) this.sessions.set(key, this.login(t, c.username, c.password));
    const s = await this.sessions.get(key)!.catch((err: unknown) => {
      this.sessions.delete(key);
      throw err;
    });
    if (s) return { headers: { 'X-Auth-Token': s.token }, session: true };
    return {
      headers: { Authorization: `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}` },
      session: false,
    };
  }

  /** A new session, or undefined for basic auth (asked for, or no session service). */
  private async login(t: BmcTarget, username: string, password: string): Promise<Session | undefined> {
    const mode = optString(t.bmc.options, 'auth', 'auto');
    if (mode === 'basic') return undefined;
    const root = await this.raw(t, 'GET', new URL('/redfish/v1/', this.base(t)));
    const linked = ((root.json as Json | undefined)?.Links as Json | undefined)?.Sessions as Json | undefined;
    const path =
      typeof linked?.['@odata.id'] === 'string'
        ? linked['@odata.id']
        : mode === 'session'
          ? '/redfish/v1/SessionService/Sessions'
          : undefined;
    if (!path) return undefined;
    const r = await this.raw(t, 'POST', new URL(path, this.base(t)), {
      UserName: username,
      Password: password,
    });
    const token = r.headers['x-auth-token'];
    if ((r.status === 200 || r.status === 201) && typeof token === 'string') {
      const location =
        r.headers.location ?? ((r.json as Json | undefined)?.['@odata.id'] as string | undefined);
      return location !== undefined ? { token, location } : { token };
    }
    if (r.status === 401 || r.status === 403 || r.status === 400) {
      throw new BmcError(
        `Redfish BMC ${t.bmc.address}: session login as ${username} refused — wrong username or password (HTTP ${r.status})`,
        false,
      );
    }
    // A service root that links sessions but cannot make one: basic auth, unless sessions were required.
    if (mode === 'session')
      throw new BmcError(`Redfish BMC ${t.bmc.address}: session login failed: ${redfishErrorMessage(r)}`);
    return undefined;
  }

  private async raw(
    t: BmcTarget,
    method: HttpRequest['method'],
    url: URL,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<HttpResponse> {
    throwIfAborted(t.signal);
    const o = t.bmc.options;
    const caFile = optString(o, 'ca_file');
    try {
      const ca = caFile ? await readFile(caFile, 'utf8') : undefined;
      return await httpJson({
        method,
        url,
        body,
        headers,
        insecure: optBool(o, 'insecure_tls', false),
        ...(ca !== undefined ? { ca } : {}),
        timeoutMs: optNumber(o, 'timeout_s', 30) * 1000,
        ...(t.signal !== undefined ? { signal: t.signal } : {}),
      });
    } catch (err) {
      if (t.signal?.aborted) throw err;
      const e = err as NodeJS.ErrnoException;
      if (/certificate|self.signed|CERT_|UNABLE_TO_VERIFY/i.test(`${e.code ?? ''} ${e.message}`)) {
        throw new BmcError(
          `Redfish BMC ${t.bmc.address}: TLS certificate not trusted (${e.code ?? e.message}); set ca_file, or insecure_tls: true for this BMC`,
          false,
        );
      }
      throw new BmcError(
        `Redfish BMC ${t.bmc.address}: ${method} ${url.pathname} failed: ${e.code ?? e.message}`,
      );
    }
  }

  private check(t: BmcTarget, r: HttpResponse, what: string): void {
    if (r.status >= 200 && r.status < 300) return;
    // 5xx and throttling are the BMC's passing trouble; other 4xx mean it refuses this request.
    const retryable = r.status >= 500 || r.status === 429 || r.status === 409;
    throw new BmcError(
      `Redfish BMC ${t.bmc.address}: could not ${what}: HTTP ${r.status} ${redfishErrorMessage(r)}`,
      retryable,
    );
  }

  private base(t: BmcTarget): URL {
    const a = t.bmc.address;
    return new URL(/^https?:\/\//.test(a) ? a : `https://${a}`);
  }
}

function sessionKey(t: BmcTarget): string {
  return `${t.bmc.address}|${t.credentials?.username ?? ''}`;
}

function etagOf(r: HttpResponse): string | undefined {
  const h = r.headers.etag;
  if (typeof h === 'string' && h) return h;
  const body = (r.json as Json | undefined)?.['@odata.etag'];
  return typeof body === 'string' && body ? body : undefined;
}
