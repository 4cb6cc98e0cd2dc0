// The dashboard's two static files, read once from this folder and served by their exact names: no path from a
// request ever reaches the file system.
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const ASSETS: Record<string, { file: string; type: string }> = {
  'live.js': { file: 'live.js', type: 'text/javascript; charset=utf-8' },
  'dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};

export async function dashboardAssets(app: FastifyInstance): Promise<void> {
  for (const [name, a] of Object.entries(ASSETS)) {
    const body = readFileSync(new URL(`./assets/${a.file}`, import.meta.url), 'utf8');
    app.get(
      `/ui/assets/${name}`,
      { config: { access: 'session' }, schema: { hide: true } },
      async (_request, reply) => reply.type(a.type).header('cache-control', 'no-cache').send(body),
    );
  }
}
