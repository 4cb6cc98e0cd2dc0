// GET|POST /checkpoint/<token>[?cmdline=…]: the installed OS reports its boot stage done. The token is the run's
// HMAC (checkpoint-token.ts), so it names the host without any lookup table and is in no workflow history.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CHECKPOINT_TOKEN_PLACEHOLDER } from '../../../sot/render.ts';
import { rebase } from '../../served-base.ts';
import { basesOf } from '../http-context.ts';
import type { AgentHttpContext } from '../http-context.ts';

type CheckpointRequest = FastifyRequest<{ Params: { token: string }; Querystring: { cmdline?: string } }>;

export function checkpointRoute(app: FastifyInstance, ctx: AgentHttpContext): void {
  const { opts } = ctx;
  const checkpoint = async (req: CheckpointRequest) => {
    // The token names the run; compare against every open gate (few) in constant time each.
    const hit = opts.cache
      .openEntries()
      .find((g) => g.runId && opts.tokens.verify(req.params.token, g.workflowId, g.runId, g.bootStage));
    if (!hit) return undefined;
    // What the OS says it booted, for the validate stage to compare with the SoT. The run's token goes back to
    // the placeholder the rendered command line holds, so the comparison is exact.
    // Likewise this agent's URL, where it served the artifacts under its own instead of the one rendered.
    const bases = basesOf(ctx, hit);
    const asBooted = req.query.cmdline?.split(req.params.token).join(CHECKPOINT_TOKEN_PLACEHOLDER);
    const reported = bases && asBooted !== undefined ? rebase(asBooted, bases.own, bases.rendered) : asBooted;
    const detail = `checkpoint from ${req.ip}${reported !== undefined ? `; cmdline=${reported}` : ''}`;
    await opts.recorder.record({ kind: 'checkpoint', mac: hit.mac, detail });
    return hit;
  };
  // GET for wget/curl one-liners in installers, POST for clients that report with a body (ignored).
  app.route<{ Params: { token: string }; Querystring: { cmdline?: string } }>({
    method: ['GET', 'POST'],
    url: '/checkpoint/:token',
    schema: {
      params: {
        type: 'object',
        properties: { token: { type: 'string', maxLength: 128 } },
        required: ['token'],
      },
      // The kernel's own limit on x86 is 2048 bytes; the bound keeps events small.
      querystring: { type: 'object', properties: { cmdline: { type: 'string', maxLength: 4096 } } },
    },
    handler: async (req, reply) => {
      const hit = await checkpoint(req);
      return hit
        ? { ok: true, host: hit.host, stage: hit.bootStage }
        : reply.code(404).send({ error: 'unknown or expired token' });
    },
  });
}
