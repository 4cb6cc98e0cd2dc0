// The dashboard's pages: the fleet (`/`), a rollout and a host. A request without a valid session cookie goes to
// the sign-in form; a request from the live script (FRAGMENT_HEADER) gets <main>'s content only.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../app-context.ts';
import type { TokenVerifier } from '../auth.ts';
import { HOST_STAGES } from '../../domain/host-stages.ts';
import { ApiError } from '../../domain/api-error.ts';
import { fleetPage } from './fleet-page.ts';
import type { FleetQuery } from './fleet-page.ts';
import { hostPage } from './host-page.ts';
import { agentsOfTimeline, readHostInstallerLogs } from '../host-logs.ts';
import { PAGE_LOG_LINES } from './installer-log-view.ts';
import type { InstallerLogView } from './installer-log-view.ts';
import type { HostDetail } from '../fleet-ops.ts';
import { html } from './html.ts';
import type { Html } from './html.ts';
import { FRAGMENT_HEADER, page } from './layout.ts';
import { rolloutPage } from './rollout-page.ts';
import { sessionOf } from './session.ts';
import type { Session } from './session.ts';

const NAME = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';

/** Security headers of every page: nothing but this server's own script, style and connections. */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function sendPage(
  request: FastifyRequest,
  reply: FastifyReply,
  o: { title: string; session: Session; live: string; body: Html },
): FastifyReply {
  reply
    .type('text/html; charset=utf-8')
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'same-origin')
    .header('cache-control', 'no-store');
  if (request.headers[FRAGMENT_HEADER] === '1') return reply.send(o.body.text);
  return reply.send(page(o).text);
}

/** An error from the API's services, as a page. */
function problem(err: unknown): { code: number; body: Html } {
  if (err instanceof ApiError) return { code: err.status, body: html`<p class="error">${err.message}</p>` };
  throw err;
}

export async function dashboardPages(
  app: FastifyInstance,
  opts: { ctx: AppContext; verifier: TokenVerifier },
): Promise<void> {
  const { ctx, verifier } = opts;
  const cfg = { config: { access: 'session' as const } };
  const signIn = (reply: FastifyReply) => reply.redirect('/ui/login', 303);

  app.get<{ Querystring: Record<string, string | undefined> }>(
    '/',
    {
      ...cfg,
      schema: {
        hide: true,
        querystring: {
          type: 'object',
          properties: {
            site: { type: 'string', pattern: `(^$)|(${NAME})` },
            stage: { type: 'string', enum: ['', ...HOST_STAGES] },
            state: { type: 'string', pattern: '^[a-z_]{0,32}$' },
            cursor: { type: 'string', maxLength: 400 },
          },
        },
      },
    },
    async (request, reply) => {
      const session = sessionOf(request, verifier);
      if (!session) return signIn(reply);
      const q = request.query;
      const query: FleetQuery = {
        ...(q.site ? { site: q.site } : {}),
        ...(q.stage ? { stage: q.stage } : {}),
        ...(q.state ? { state: q.state } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      };
      return sendPage(request, reply, {
        title: 'Fleet',
        session,
        live: 'all',
        body: fleetPage(ctx.index, session, query),
      });
    },
  );

  app.get<{ Params: { sot: string; revision: string } }>(
    '/ui/rollouts/:sot/:revision',
    { ...cfg, schema: { hide: true } },
    async (request, reply) => {
      const session = sessionOf(request, verifier);
      if (!session) return signIn(reply);
      const { sot, revision } = request.params;
      let body: Html;
      let id = `rollout/${sot}/${revision}`;
      try {
        id = ctx.ops.parseRolloutId(sot, revision);
        body = rolloutPage(await ctx.ops.rollout(id), session);
      } catch (err) {
        const p = problem(err);
        reply.code(p.code);
        body = p.body;
      }
      return sendPage(request, reply, {
        title: `Rollout ${sot}@${revision}`,
        session,
        live: `rollout:${id}`,
        body,
      });
    },
  );

  app.get<{ Params: { site: string; host: string } }>(
    '/ui/hosts/:site/:host',
    {
      ...cfg,
      schema: {
        hide: true,
        params: {
          type: 'object',
          properties: { site: { type: 'string', pattern: NAME }, host: { type: 'string', pattern: NAME } },
        },
      },
    },
    async (request, reply) => {
      const session = sessionOf(request, verifier);
      if (!session) return signIn(reply);
      const { site, host } = request.params;
      let body: Html;
      try {
        const detail = await ctx.ops.host(site, host);
        body = hostPage(
          detail,
          {
            namespace: ctx.namespace,
            ...(ctx.config.temporalUiUrl !== undefined ? { uiUrl: ctx.config.temporalUiUrl } : {}),
          },
          await installerLogOf(ctx, detail),
        );
      } catch (err) {
        const p = problem(err);
        reply.code(p.code);
        body = p.body;
      }
      return sendPage(request, reply, {
        title: `Host ${site}/${host}`,
        session,
        live: `host:${site}/${host}`,
        body,
      });
    },
  );
}

/** How long a page waits for the installer log lines before it is drawn without them. */
const LOG_WAIT_MS = 5_000;

/** The host's installer log lines, when its timeline says an agent has some (a `log` summary). */
async function installerLogOf(ctx: AppContext, h: HostDetail): Promise<InstallerLogView> {
  if (!h.timeline.some((e) => e.kind === 'event' && e.message.startsWith('log from ')))
    return { kind: 'none' };
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<InstallerLogView>((resolve) => {
    timer = setTimeout(
      () => resolve({ kind: 'unavailable', why: `no answer from the agents in ${LOG_WAIT_MS / 1000} s` }),
      LOG_WAIT_MS,
    );
  });
  try {
    return await Promise.race([
      readHostInstallerLogs(ctx.client, h.site, h.host, agentsOfTimeline(h.timeline), PAGE_LOG_LINES).then(
        (result): InstallerLogView => ({ kind: 'lines', result }),
        (err: unknown): InstallerLogView => ({
          kind: 'unavailable',
          why: err instanceof Error ? err.message : String(err),
        }),
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
