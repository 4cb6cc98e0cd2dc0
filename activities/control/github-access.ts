// How vaquero talks to GitHub's REST API: one octokit per API base URL, authenticated with a token or as a
// GitHub App installation (check runs need an App). Credentials come from the process (server configuration
// or environment), never from workflow history or the SoT: a workflow names only the repository and API URL.
import { readFile } from 'node:fs/promises';
import { App, Octokit } from 'octokit';

export const GITHUB_API_URL = 'https://api.github.com';

export interface GithubAuth {
  /** Personal access or installation token. */
  token?: string;
  /** GitHub App installation: check runs can only be written by an App. */
  app?: { appId: string; privateKey: string; installationId: number };
}

export interface GithubAccess {
  /** An authenticated client for `apiUrl` (default api.github.com). */
  client(apiUrl?: string): Promise<Octokit>;
}

/**
 * Credentials from the environment, for a control worker that runs outside the server:
 * VAQUERO_GITHUB_TOKEN (or GITHUB_TOKEN), or VAQUERO_GITHUB_APP_ID + VAQUERO_GITHUB_APP_PRIVATE_KEY_FILE +
 * VAQUERO_GITHUB_APP_INSTALLATION_ID.
 */
export async function githubAuthFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<GithubAuth> {
  const appId = env.VAQUERO_GITHUB_APP_ID;
  if (appId) {
    const keyFile = env.VAQUERO_GITHUB_APP_PRIVATE_KEY_FILE;
    const installation = Number(env.VAQUERO_GITHUB_APP_INSTALLATION_ID);
    if (!keyFile || !Number.isInteger(installation)) {
      throw new Error(
        'VAQUERO_GITHUB_APP_ID needs VAQUERO_GITHUB_APP_PRIVATE_KEY_FILE and VAQUERO_GITHUB_APP_INSTALLATION_ID',
      );
    }
    return { app: { appId, privateKey: await readFile(keyFile, 'utf8'), installationId: installation } };
  }
  const token = env.VAQUERO_GITHUB_TOKEN || env.GITHUB_TOKEN;
  return token ? { token } : {};
}

/** Anything but https to a host other than the loopback would send the token in clear. */
export function checkApiUrl(apiUrl: string): URL {
  let u: URL;
  try {
    u = new URL(apiUrl);
  } catch {
    throw new Error(`GitHub API URL ${apiUrl} is not a URL`);
  }
  const loopback = u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]';
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
    throw new Error(`GitHub API URL ${apiUrl} must use https`);
  }
  return u;
}

export function createGithubAccess(auth: GithubAuth | (() => Promise<GithubAuth>)): GithubAccess {
  const clients = new Map<string, Promise<Octokit>>();
  const resolveAuth = typeof auth === 'function' ? auth : () => Promise.resolve(auth);
  const make = async (baseUrl: string): Promise<Octokit> => {
    const a = await resolveAuth();
    // Temporal retries the activity; octokit's own retries and rate-limit waits would only hide failures.
    const common = { baseUrl, retry: { enabled: false }, throttle: { enabled: false }, userAgent: 'vaquero' };
    if (a.app) {
      const app = new App({
        appId: a.app.appId,
        privateKey: a.app.privateKey,
        Octokit: Octokit.defaults(common),
      });
      return app.getInstallationOctokit(a.app.installationId) as Promise<Octokit>;
    }
    return new Octokit({ ...common, ...(a.token ? { auth: a.token } : {}) });
  };
  return {
    client(apiUrl = GITHUB_API_URL) {
      const base = checkApiUrl(apiUrl).toString().replace(/\/$/, '');
      let c = clients.get(base);
      if (!c) {
        c = make(base);
        clients.set(base, c);
        c.catch(() => clients.delete(base));
      }
      return c;
    },
  };
}

/** `owner/repo`, checked so that it can only ever name one repository in an API path. */
export function splitRepo(full: string): { owner: string; repo: string } {
  const m = /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))\/([A-Za-z0-9._-]{1,100})$/.exec(full);
  if (!m || m[2] === '.' || m[2] === '..')
    throw new Error(`"${full}" is not a GitHub repository (owner/name)`);
  return { owner: m[1]!, repo: m[2]! };
}
