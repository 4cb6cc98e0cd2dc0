// GET /config/<mac>[?stage=N][&boot=…]: the host's rendered unattended config for its current boot stage, with the
// run's checkpoint token and its secret references resolved from the agent's store; to that host only
// (host-binding.ts).
import type { FastifyInstance } from 'fastify';
import { normaliseMac } from '../artifact-text.ts';
import { CREDENTIAL_SCHEMA, refuseBinding, refuseRequest, servedText } from '../http-context.ts';
import type { AgentHttpContext } from '../http-context.ts';
import { MissingSecretError, resolveSecretPlaceholders } from '../../secrets/resolve-placeholders.ts';

export function hostConfigRoute(app: FastifyInstance, ctx: AgentHttpContext): void {
  app.get<{ Params: { mac: string }; Querystring: { stage?: number; boot?: string } }>(
    '/config/:mac',
    {
      schema: {
        params: { type: 'object', properties: { mac: { type: 'string', maxLength: 32 } }, required: ['mac'] },
        querystring: {
          type: 'object',
          properties: { stage: { type: 'integer', minimum: 1 }, boot: CREDENTIAL_SCHEMA },
        },
      },
    },
    async (req, reply) => {
      const named = normaliseMac(req.params.mac);
      if (!named) return refuseRequest(ctx, req, reply, 'not_a_mac').send({ error: 'not a MAC address' });
      const b = await ctx.binding.resolve(req.ip, named, req.query.boot);
      if (!b.ok) return refuseBinding(ctx, req, reply, b).send({ error: b.reason });
      const e = b.entry;
      const config = e.artifacts!.config;
      if (!config || (req.query.stage !== undefined && req.query.stage !== e.bootStage))
        return refuseRequest(ctx, req, reply, 'no_config').send({
          error: 'no config for this host and stage now',
        });
      await ctx.opts.recorder.record({
        kind: 'config',
        mac: e.mac,
        detail: `${config.type} config, boot stage ${e.bootStage}`,
      });
      let text: string;
      try {
        // Secrets go into this answer only: the gate (and workflow history) holds their references.
        text = await resolveSecretPlaceholders(config.text, ctx.opts.secrets);
      } catch (err) {
        if (!(err instanceof MissingSecretError)) throw err;
        req.log.warn({ mac: e.mac, secret: err.ref }, err.message);
        return reply.code(503).send({ error: err.message });
      }
      reply.type(config.contentType);
      return servedText(ctx, e, text);
    },
  );
}
