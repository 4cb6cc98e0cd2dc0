// The rollout buttons: POST /ui/rollouts/:sot/:revision/{pause,resume,abort}, for an operate session with this
// session's CSRF token (see session.ts), through the same FleetOps call as the API's actions. Answers with a
// redirect back to the page the button was on (`back`: fleet or rollout; never a URL from the request).
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../app-context.ts';
import type { TokenVerifier } from '../auth.ts';
import { ApiError } from '../../domain/api-error.ts';
import { rolloutLink } from './fleet-page.ts';
import { formAllowed, sessionOf } from './session.ts';

export async function dashboardActions(
  app: FastifyInstance,
  opts: { ctx: AppContext; verifier: TokenVerifier },
): Promise<void> {
  const { ctx, verifier } = opts;
  for (const action of ['pause', 'resume', 'abort'] as const) {
    app.post<{ Params: { sot: string; revision: string }; Body: { csrf?: string; back?: string } }>(
      `/ui/rollouts/:sot/:revision/${action}`,
      { config: { access: 'session' }, schema: { hide: true } },
      async (request, reply) => {
        const session = sessionOf(request, verifier);
        if (!session) return reply.redirect('/ui/login', 303);
        if (!formAllowed(request, session, request.body?.csrf))
          return reply.code(403).type('text/plain').send('form refused (CSRF)');
        if (session.principal.role !== 'operate')
          return reply
            .code(403)
            .type('text/plain')
            .send(`token ${session.principal.name} has role read; this needs operate`);
        const { sot, revision } = request.params;
        const id = ctx.ops.parseRolloutId(sot, revision);
        try {
          const state = await ctx.ops.rolloutAction(
            id,
            action,
            `${action} by ${session.principal.name} (dashboard)`,
          );
          // The update answered with the state the rollout is in now: the index (and so the page this redirects
          // to, and every open dashboard through the feed) has it at once, not at its next refresh.
          const row = ctx.index.getRollout(id);
          if (row) ctx.index.upsertRollout({ ...row, state });
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          return reply.code(err.status).type('text/plain').send(err.message);
        }
        return reply.redirect(request.body?.back === 'rollout' ? rolloutLink({ sot, revision }) : '/', 303);
      },
    );
  }
}
