// The fleet dashboard, served by the API's app at `/` and under `/ui/`: server-rendered pages (no framework, no
// file fetched from anywhere but this server), made live by one small script over server-sent events. Its own
// body parser (HTML forms) applies to its routes only.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../app-context.ts';
import type { TokenVerifier } from '../auth.ts';
import { dashboardActions } from './actions.ts';
import { dashboardAssets } from './assets.ts';
import { dashboardEvents } from './live-events.ts';
import { dashboardLogin } from './login.ts';
import { dashboardPages } from './pages.ts';

const FORM_LIMIT = 8 * 1024;

export async function dashboard(
  app: FastifyInstance,
  opts: { ctx: AppContext; verifier: TokenVerifier },
): Promise<void> {
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: FORM_LIMIT },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  await app.register(dashboardAssets);
  await app.register(dashboardLogin, { verifier: opts.verifier });
  await app.register(dashboardPages, opts);
  await app.register(dashboardActions, opts);
  await app.register(dashboardEvents, { feed: opts.ctx.feed, verifier: opts.verifier });
}
