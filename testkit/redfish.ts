// Redfish BMCs for tests. startSushy(): sushy-tools' emulator (installed by `vaquero setup --lab` into the cache
// dir) with its fake driver and basic auth, on 127.0.0.1. startRedfishProxy(): a proxy in front of it that
// adds BMC behaviours sushy lacks, each switched on by the test — session login (SessionService, X-Auth-Token),
// ETag/If-Match on the ComputerSystem, TLS with a throwaway certificate, and "ignores the boot override"
// (a PATCH of Boot is acknowledged with 204 but never reaches the emulator). Everything else is sushy's.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { pythonToolsVenv, sushyEmulatorPath } from '../cli/setup/python-tools.ts';
import { freePort } from '../temporal/ports.ts';

const run = promisify(execFile);

export const SUSHY_SYSTEM_UUID = '27946b59-9e44-4fa7-8e91-f3527a1ef094';

export interface Sushy {
  url: string;
  username: string;
  password: string;
  /** The emulated system's @odata.id. */
  systemPath: string;
  /** GET of the system, with the emulator's own credentials. */
  system(): Promise<{
    PowerState: string;
    Boot: { BootSourceOverrideTarget: string; BootSourceOverrideEnabled: string };
  }>;
  stop(): Promise<void>;
}

export async function startSushy(
  opts: { username?: string; password?: string; powerState?: 'On' | 'Off' } = {},
): Promise<Sushy> {
  const bin = sushyEmulatorPath();
  await access(bin).catch(() => {
    throw new Error(
      `${bin} is missing: run \`vaquero setup --lab\` (or npm test, which runs it) to install sushy-tools`,
    );
  });
  const username = opts.username ?? 'admin';
  const password = opts.password ?? randomBytes(9).toString('base64url');
  const dir = await mkdtemp(path.join(tmpdir(), 'vaq-sushy-'));
  const port = await freePort();
  // sushy accepts only bcrypt digests in its htpasswd-style file; the venv has bcrypt (a sushy dependency).
  const hash = await new Promise<string>((resolve, reject) => {
    const p = execFile(
      path.join(pythonToolsVenv(), 'bin', 'python'),
      [
        '-c',
        'import bcrypt,sys; print(bcrypt.hashpw(sys.stdin.read().encode(), bcrypt.gensalt(4)).decode())',
      ],
      (err, out) => (err ? reject(err) : resolve(out.trim())),
    );
    p.stdin?.end(password);
  });
  await writeFile(path.join(dir, 'htpasswd'), `${username}:${hash}\n`);
  await writeFile(
    path.join(dir, 'config.py'),
    [
      `SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'`,
      `SUSHY_EMULATOR_LISTEN_PORT = ${port}`,
      `SUSHY_EMULATOR_FAKE_DRIVER = True`,
      `SUSHY_EMULATOR_AUTH_FILE = '${path.join(dir, 'htpasswd')}'`,
      `SUSHY_EMULATOR_STATE_DIR = '${path.join(dir, 'state')}'`,
      `SUSHY_EMULATOR_FAKE_SYSTEMS = [{'uuid': '${SUSHY_SYSTEM_UUID}', 'name': 'fake', 'power_state': '${opts.powerState ?? 'Off'}', 'nics': [{'mac': '52:54:00:aa:00:01', 'ip': '10.20.1.11'}]}]`,
      '',
    ].join('\n'),
  );
  const child = spawn(bin, ['--config', path.join(dir, 'config.py'), '--fake'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A test process that dies without stop() must not leave this server behind.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  const url = `http://127.0.0.1:${port}`;
  const auth = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const get = async (p: string) => {
    const r = await fetch(url + p, { headers: { Authorization: auth } });
    if (r.status !== 200) throw new Error(`GET ${p}: HTTP ${r.status}`);
    return r.json() as Promise<unknown>;
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    process.removeListener('exit', reap);
    await rm(dir, { recursive: true, force: true });
  };
  const systemPath = `/redfish/v1/Systems/${SUSHY_SYSTEM_UUID}`;
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`sushy-emulator exited at start (${child.exitCode}): ${stderr}`);
      const ok = await get(systemPath).then(
        () => true,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`sushy-emulator on ${url} did not answer: ${stderr}`);
      await delay(150);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    username,
    password,
    systemPath,
    system: () => get(systemPath) as ReturnType<Sushy['system']>,
    stop,
  };
}

export interface ProxyOptions {
  /** Acknowledge a PATCH of Boot with 204 and drop it: a BMC that ignores the boot override. */
  dropBootPatch?: boolean;
  /** Offer SessionService login with these credentials (the proxy talks to sushy with sushy's own). */
  sessions?: { username: string; password: string };
  /** Send an ETag with the ComputerSystem and require a matching If-Match on its PATCH. */
  etag?: boolean;
  /** Serve HTTPS with a throwaway self-signed certificate for 127.0.0.1. */
  tls?: boolean;
}

export interface SeenRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RedfishProxy {
  url: string;
  /** PEM of the proxy's certificate (with tls). */
  cert?: string;
  requests: SeenRequest[];
  /** Sessions open now. */
  openSessions(): number;
  stop(): Promise<void>;
}

async function selfSigned(dir: string): Promise<{ key: string; cert: string }> {
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    path.join(dir, 'key.pem'),
    '-out',
    path.join(dir, 'cert.pem'),
  ]);
  return {
    key: await readFile(path.join(dir, 'key.pem'), 'utf8'),
    cert: await readFile(path.join(dir, 'cert.pem'), 'utf8'),
  };
}

export async function startRedfishProxy(upstream: Sushy, opts: ProxyOptions = {}): Promise<RedfishProxy> {
  const requests: SeenRequest[] = [];
  const sessions = new Map<string, string>();
  const upstreamAuth = `Basic ${Buffer.from(`${upstream.username}:${upstream.password}`).toString('base64')}`;
  const forward = (method: string, p: string, headers: http.IncomingHttpHeaders, body: string) =>
    fetch(upstream.url + p, {
      method,
      headers: { 'Content-Type': 'application/json', Authorization: headers.authorization ?? '' },
      ...(method === 'GET' || method === 'DELETE' ? {} : { body }),
    }).then(async (r) => ({ status: r.status, text: await r.text() }));
  const etagOf = (text: string) => `W/"${createHash('sha1').update(text).digest('hex').slice(0, 16)}"`;
  const isSystem = (p: string) => /^\/redfish\/v1\/Systems\/[^/]+\/?$/.test(p);

  const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const p = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? 'GET';
    requests.push({ method, path: p, headers: req.headers, body });
    const send = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, {
        ...(json === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      });
      res.end(json === undefined ? undefined : typeof json === 'string' ? json : JSON.stringify(json));
    };
    const headers = { ...req.headers };
    if (opts.sessions) {
      if (method === 'POST' && p === '/redfish/v1/SessionService/Sessions') {
        const b = JSON.parse(body || '{}') as { UserName?: string; Password?: string };
        if (b.UserName !== opts.sessions.username || b.Password !== opts.sessions.password)
          return send(401, { error: { message: 'bad credentials' } });
        const id = randomBytes(4).toString('hex');
        const token = randomBytes(16).toString('hex');
        sessions.set(token, id);
        return send(
          201,
          { '@odata.id': `/redfish/v1/SessionService/Sessions/${id}`, Id: id },
          { 'X-Auth-Token': token, Location: `/redfish/v1/SessionService/Sessions/${id}` },
        );
      }
      if (p.replace(/\/$/, '') !== '/redfish/v1') {
        const token = req.headers['x-auth-token'];
        if (typeof token !== 'string' || !sessions.has(token))
          return send(401, { error: { message: 'no valid session' } });
        if (method === 'DELETE' && p.startsWith('/redfish/v1/SessionService/Sessions/')) {
          if (sessions.get(token) !== p.split('/').pop()) return send(404);
          sessions.delete(token);
          return send(204);
        }
        headers.authorization = upstreamAuth;
      }
    }
    if (method === 'PATCH' && isSystem(p) && opts.etag) {
      const current = await forward('GET', p, { authorization: headers.authorization ?? upstreamAuth }, '');
      const ifMatch = req.headers['if-match'];
      if (!ifMatch) return send(428, { error: { message: 'If-Match required' } });
      if (ifMatch !== etagOf(current.text)) return send(412, { error: { message: 'ETag mismatch' } });
    }
    if (method === 'PATCH' && isSystem(p) && opts.dropBootPatch && body.includes('"Boot"')) return send(204);
    const r = await forward(method, p, headers, body);
    let text = r.text;
    if (opts.sessions && method === 'GET' && p.replace(/\/$/, '') === '/redfish/v1' && r.status === 200) {
      const root = JSON.parse(text) as Record<string, unknown>;
      root.Links = {
        ...(root.Links as object | undefined),
        Sessions: { '@odata.id': '/redfish/v1/SessionService/Sessions' },
      };
      text = JSON.stringify(root);
    }
    const extra: Record<string, string> =
      opts.etag && method === 'GET' && isSystem(p) && r.status === 200 ? { ETag: etagOf(text) } : {};
    send(r.status, text || undefined, extra);
  };

  const dir = await mkdtemp(path.join(tmpdir(), 'vaq-rf-proxy-'));
  const creds = opts.tls ? await selfSigned(dir) : undefined;
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handler(req, res).catch((err: unknown) => {
      res.writeHead(502);
      res.end(String(err));
    });
  };
  const server = creds
    ? https.createServer({ key: creds.key, cert: creds.cert }, onRequest)
    : http.createServer(onRequest);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${creds ? 'https' : 'http'}://127.0.0.1:${port}`,
    ...(creds ? { cert: creds.cert } : {}),
    requests,
    openSessions: () => sessions.size,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
