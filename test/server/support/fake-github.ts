// A local stand-in for the parts of GitHub's REST API that vaquero calls, answering with the shapes GitHub
// documents, on 127.0.0.1 only. It records every request so tests can assert what vaquero asked for: the archive
// at the exact commit, check runs created and updated, statuses, comments, tokens.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { c as createTar } from 'tar';
import { readdir } from 'node:fs/promises';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization?: string;
  body?: Record<string, unknown>;
}

export interface CheckRun {
  id: number;
  name: string;
  head_sha: string;
  external_id: string;
  status: string;
  conclusion: string | null;
  started_at: string | null;
  completed_at: string | null;
  details_url: string | null;
  output: {
    title: string | null;
    summary: string | null;
    text: string | null;
    annotations_count: number;
    annotations_url: string;
  };
  /** Every state the run went through (create and each update), for assertions. */
  history: { status: string; conclusion: string | null; title: string | null }[];
}

export class FakeGithub {
  url = '';
  readonly requests: RecordedRequest[] = [];
  /** `owner/repo` → branch → commit. */
  readonly branches = new Map<string, Map<string, string>>();
  /** `owner/repo@sha` → gzipped tarball. */
  readonly archives = new Map<string, Buffer>();
  readonly checkRuns = new Map<number, CheckRun & { repo: string }>();
  readonly statuses: { repo: string; sha: string; state: string; context: string; description: string }[] =
    [];
  readonly comments = new Map<number, { repo: string; issue: number; body: string }>();
  /** Answer the archive download with this status instead (failure tests). */
  archiveStatus: number | undefined;
  private nextId = 1000;
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req, res).catch((err: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: String(err) }));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const addr = this.server.address();
    if (!addr || typeof addr === 'string') throw new Error('no address');
    this.url = `http://127.0.0.1:${addr.port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  setBranch(repo: string, branch: string, sha: string): void {
    let m = this.branches.get(repo);
    if (!m) this.branches.set(repo, (m = new Map()));
    m.set(branch, sha);
  }

  /** Serves `dir` as the archive of `repo` at `sha`, packed as GitHub packs it: one `<owner>-<repo>-<sha7>/` folder. */
  async setArchiveFromDir(repo: string, sha: string, dir: string): Promise<void> {
    const prefix = `${repo.replace('/', '-')}-${sha.slice(0, 7)}/`;
    const stream = createTar({ gzip: true, cwd: dir, prefix, portable: true }, await readdir(dir));
    const chunks: Buffer[] = [];
    for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
    this.archives.set(`${repo}@${sha}`, Buffer.concat(chunks));
  }

  requestsTo(method: string, pathPattern: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && pathPattern.test(r.path));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', this.url);
    let raw = '';
    for await (const c of req) raw += (c as Buffer).toString();
    const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
    const method = req.method ?? 'GET';
    this.requests.push({
      method,
      path: decodeURIComponent(u.pathname),
      query: Object.fromEntries(u.searchParams),
      ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {}),
      ...(body ? { body } : {}),
    });
    const json = (status: number, data: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(data));
    };
    const notFound = () =>
      json(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
    // octokit encodes parameters (heads%2Fmaster); GitHub decodes them.
    const p = decodeURIComponent(u.pathname);
    let m: RegExpExecArray | null;

    // GET /repos/{owner}/{repo}/git/ref/heads/{branch}
    if (method === 'GET' && (m = /^\/repos\/([^/]+\/[^/]+)\/git\/ref\/heads\/(.+)$/.exec(p))) {
      const sha = this.branches.get(m[1]!)?.get(m[2]!);
      if (!sha) return notFound();
      return json(200, {
        ref: `refs/heads/${m[2]}`,
        node_id: 'REF_kwDOA',
        url: `${this.url}/repos/${m[1]}/git/refs/heads/${m[2]}`,
        object: { sha, type: 'commit', url: `${this.url}/repos/${m[1]}/git/commits/${sha}` },
      });
    }
    // GET /repos/{owner}/{repo}/tarball/{ref}: like GitHub, a redirect to codeload.
    if (method === 'GET' && (m = /^\/repos\/([^/]+)\/([^/]+)\/tarball\/(.+)$/.exec(p))) {
      res.writeHead(302, { location: `${this.url}/_codeload/${m[1]}/${m[2]}/legacy.tar.gz/${m[3]}` });
      res.end();
      return;
    }
    if (method === 'GET' && (m = /^\/_codeload\/([^/]+)\/([^/]+)\/legacy\.tar\.gz\/(.+)$/.exec(p))) {
      if (this.archiveStatus) return json(this.archiveStatus, { message: 'Server Error' });
      const archive = this.archives.get(`${m[1]}/${m[2]}@${m[3]}`);
      if (!archive) return notFound();
      res.writeHead(200, { 'content-type': 'application/x-gzip', 'content-length': archive.length });
      res.end(archive);
      return;
    }
    // GET /repos/{owner}/{repo}/commits/{ref}/check-runs
    if (method === 'GET' && (m = /^\/repos\/([^/]+\/[^/]+)\/commits\/([^/]+)\/check-runs$/.exec(p))) {
      const name = u.searchParams.get('check_name');
      const runs = [...this.checkRuns.values()].filter(
        (r) => r.repo === m![1] && r.head_sha === m![2] && (!name || r.name === name),
      );
      return json(200, { total_count: runs.length, check_runs: runs.map((r) => this.checkRunView(r)) });
    }
    // POST /repos/{owner}/{repo}/check-runs
    if (method === 'POST' && (m = /^\/repos\/([^/]+\/[^/]+)\/check-runs$/.exec(p))) {
      if (!body?.name || !body.head_sha)
        return json(422, { message: 'Invalid request.', errors: ['name and head_sha are required'] });
      const run: CheckRun & { repo: string } = {
        id: this.nextId++,
        repo: m[1]!,
        name: String(body.name),
        head_sha: String(body.head_sha),
        external_id: String(body.external_id ?? ''),
        status: String(body.status ?? 'queued'),
        conclusion: (body.conclusion as string | undefined) ?? null,
        started_at: (body.started_at as string | undefined) ?? null,
        completed_at: (body.completed_at as string | undefined) ?? null,
        details_url: (body.details_url as string | undefined) ?? null,
        output: this.output(body.output),
        history: [],
      };
      run.history.push({ status: run.status, conclusion: run.conclusion, title: run.output.title });
      this.checkRuns.set(run.id, run);
      return json(201, this.checkRunView(run));
    }
    // PATCH /repos/{owner}/{repo}/check-runs/{id}
    if (method === 'PATCH' && (m = /^\/repos\/([^/]+\/[^/]+)\/check-runs\/(\d+)$/.exec(p))) {
      const run = this.checkRuns.get(Number(m[2]));
      if (!run || run.repo !== m[1]) return notFound();
      if (body?.status) run.status = String(body.status);
      if (body?.conclusion) {
        run.conclusion = String(body.conclusion);
        run.status = 'completed';
      }
      if (body?.completed_at) run.completed_at = String(body.completed_at);
      if (body?.details_url) run.details_url = String(body.details_url);
      if (body?.output) run.output = this.output(body.output);
      run.history.push({ status: run.status, conclusion: run.conclusion, title: run.output.title });
      return json(200, this.checkRunView(run));
    }
    // POST /repos/{owner}/{repo}/statuses/{sha}
    if (method === 'POST' && (m = /^\/repos\/([^/]+\/[^/]+)\/statuses\/([0-9a-f]{40})$/.exec(p))) {
      const s = {
        repo: m[1]!,
        sha: m[2]!,
        state: String(body?.state),
        context: String(body?.context ?? 'default'),
        description: String(body?.description ?? ''),
      };
      this.statuses.push(s);
      return json(201, {
        id: this.nextId++,
        state: s.state,
        description: s.description,
        target_url: body?.target_url ?? null,
        context: s.context,
        created_at: new Date().toISOString(),
        updated_at: new Date().toISOString(),
      });
    }
    // GET / POST /repos/{owner}/{repo}/issues/{n}/comments
    if ((m = /^\/repos\/([^/]+\/[^/]+)\/issues\/(\d+)\/comments$/.exec(p))) {
      const repo = m[1]!;
      const issue = Number(m[2]);
      if (method === 'GET') {
        return json(
          200,
          [...this.comments.entries()]
            .filter(([, c]) => c.repo === repo && c.issue === issue)
            .map(([id, c]) => ({ id, body: c.body, user: { login: 'vaquero[bot]' } })),
        );
      }
      if (method === 'POST') {
        const id = this.nextId++;
        this.comments.set(id, { repo, issue, body: String(body?.body ?? '') });
        return json(201, { id, body: body?.body, user: { login: 'vaquero[bot]' } });
      }
    }
    // PATCH /repos/{owner}/{repo}/issues/comments/{id}
    if (method === 'PATCH' && (m = /^\/repos\/([^/]+\/[^/]+)\/issues\/comments\/(\d+)$/.exec(p))) {
      const c = this.comments.get(Number(m[2]));
      if (!c) return notFound();
      c.body = String(body?.body ?? '');
      return json(200, { id: Number(m[2]), body: c.body });
    }
    // POST /app/installations/{id}/access_tokens (GitHub App auth)
    if (method === 'POST' && (m = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(p))) {
      if (
        !req.headers.authorization?.startsWith('bearer ') &&
        !req.headers.authorization?.startsWith('Bearer ')
      )
        return json(401, { message: 'A JSON web token could not be decoded' });
      return json(201, {
        token: `ghs_installation${m[1]}`,
        expires_at: new Date(Date.now() + 3600_000).toISOString(),
        permissions: { checks: 'write', contents: 'read', pull_requests: 'write' },
        repository_selection: 'all',
      });
    }
    return notFound();
  }

  private output(o: unknown): CheckRun['output'] {
    const x = (o ?? {}) as Record<string, unknown>;
    return {
      title: (x.title as string | undefined) ?? null,
      summary: (x.summary as string | undefined) ?? null,
      text: (x.text as string | undefined) ?? null,
      annotations_count: 0,
      annotations_url: `${this.url}/annotations`,
    };
  }

  private checkRunView(r: CheckRun & { repo: string }) {
    const { history: _h, repo, ...rest } = r;
    return {
      ...rest,
      node_id: `CR_${r.id}`,
      url: `${this.url}/repos/${repo}/check-runs/${r.id}`,
      html_url: `https://github.com/${repo}/runs/${r.id}`,
      check_suite: { id: 1 },
      app: { id: 1, slug: 'vaquero', name: 'vaquero' },
      pull_requests: [],
    };
  }
}
