// The CLI talking to a vaquero server instead of Temporal: chosen by --server URL or VAQUERO_SERVER, with the
// bearer token from VAQUERO_TOKEN or the file named by VAQUERO_TOKEN_FILE (never a command-line argument, which
// other users of the machine could read in the process list).
import { readFile } from 'node:fs/promises';
import { ApiError } from '../domain/api-error.ts';

export interface ServerTarget {
  url: string;
  token: string;
}

/** The server to use, or undefined to talk to Temporal directly (the behaviour without a server). */
export async function serverTarget(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ServerTarget | undefined> {
  const url = flag ?? env.VAQUERO_SERVER;
  if (!url) return undefined;
  let token = env.VAQUERO_TOKEN;
  if (!token && env.VAQUERO_TOKEN_FILE) token = (await readFile(env.VAQUERO_TOKEN_FILE, 'utf8')).trim();
  if (!token) throw new Error(`talking to ${url} needs a token: set VAQUERO_TOKEN or VAQUERO_TOKEN_FILE`);
  return { url: url.replace(/\/+$/, ''), token };
}

export class ApiClient {
  constructor(private readonly target: ServerTarget) {}

  get url(): string {
    return this.target.url;
  }

  private async send<T>(method: string, path: string, body?: unknown): Promise<{ status: number; data: T }> {
    let res: Response;
    try {
      res = await fetch(`${this.target.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.target.token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      throw new Error(
        `cannot reach ${this.target.url}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string; details?: unknown } } | undefined)
        ?.error;
      throw new ApiError(
        res.status,
        e?.code ?? `http_${res.status}`,
        `${method} ${path}: ${res.status} ${e?.message ?? text.slice(0, 200)}`,
        e?.details,
      );
    }
    return { status: res.status, data: json as T };
  }

  async get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
    const s = qs.toString();
    return (await this.send<T>('GET', s ? `${path}?${s}` : path)).data;
  }

  async post<T>(path: string, body: unknown = {}): Promise<{ status: number; data: T }> {
    return this.send<T>('POST', path, body);
  }
}

/** `rollout/<sot>/<revision>` → the API path of that rollout. */
export function rolloutPath(id: string): string {
  const m = /^rollout\/([^/]+)\/([^/]+)$/.exec(id);
  if (!m) throw new Error(`"${id}" is not a rollout id (rollout/<sot>/<revision>)`);
  return `/rollouts/${encodeURIComponent(m[1]!)}/${encodeURIComponent(m[2]!)}`;
}
