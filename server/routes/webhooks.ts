// POST /webhooks/github. The body is kept as the exact bytes GitHub signed: the signature is checked in the
// content-type parser, before the JSON is parsed, so a forged delivery never reaches a handler. No bearer token:
// the HMAC is the authentication.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RouteOptions } from '../app-context.ts';
import { ApiError } from '../../domain/api-error.ts';
import { errorResponses } from '../errors.ts';

/** GitHub caps payloads at 25 MB. */
const MAX_PAYLOAD = 25 * 1024 * 1024;

export async function webhookRoutes(app: FastifyInstance, { ctx }: RouteOptions): Promise<void> {
  const handler = ctx.webhooks;
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // Encapsulated: only this plugin's route gets the signature-checking parser.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: MAX_PAYLOAD },
    async (request: FastifyRequest, raw: string | Buffer) => {
      const body = typeof raw === 'string' ? raw : raw.toString('utf8');
      if (!handler?.configured) throw new ApiError(404, 'not_found', 'GitHub webhooks are not configured');
      const signature = request.headers['x-hub-signature-256'];
      if (typeof signature !== 'string' || signature === '') {
        ctx.metrics.webhookDeliveries.inc({
          event: String(request.headers['x-github-event'] ?? ''),
          outcome: 'unsigned',
        });
        throw new ApiError(401, 'signature_missing', 'X-Hub-Signature-256 is missing');
      }
      if (!(await handler.verify(body, signature))) {
        ctx.metrics.webhookDeliveries.inc({
          event: String(request.headers['x-github-event'] ?? ''),
          outcome: 'bad_signature',
        });
        throw new ApiError(401, 'signature_invalid', 'X-Hub-Signature-256 does not match the body');
      }
      // fastify's default JSON parser answers through its callback (its type also allows the async form: void).
      return new Promise((resolve, reject) => {
        void parseJson(request, body, (err, value) => (err ? reject(err) : resolve(value)));
      });
    },
  );

  app.post<{
    Body: Record<string, unknown>;
    Headers: { 'x-github-event': string; 'x-github-delivery': string };
  }>(
    '/webhooks/github',
    {
      config: { access: 'signature' },
      bodyLimit: MAX_PAYLOAD,
      schema: {
        tags: ['gitops'],
        summary:
          'GitHub webhook: push starts the rollout of the pushed commit, pull_request posts its plan, ping is answered',
        security: [{ githubSignature: [] }],
        headers: {
          type: 'object',
          required: ['x-github-event', 'x-github-delivery'],
          properties: {
            'x-github-event': { type: 'string', pattern: '^[a-z_]{1,64}$' },
            'x-github-delivery': { type: 'string', minLength: 1, maxLength: 128 },
            'x-hub-signature-256': { type: 'string', pattern: '^sha256=[0-9a-f]{64}$' },
          },
        },
        body: { type: 'object', description: 'The event payload, exactly as GitHub signed it' },
        response: {
          200: { $ref: 'WebhookResult#' },
          202: { $ref: 'WebhookResult#' },
          ...errorResponses(400, 404, 413, 415, 502),
        },
      },
    },
    async (request, reply) => {
      // The parser only runs for bodies: a delivery without one never had its signature checked.
      if (!handler?.configured) throw new ApiError(404, 'not_found', 'GitHub webhooks are not configured');
      if (request.body === undefined || request.body === null)
        throw new ApiError(401, 'signature_missing', 'an unsigned delivery without a body');
      const r = await handler.handle(
        request.headers['x-github-event'],
        request.headers['x-github-delivery'],
        request.body,
      );
      return reply.code(r.status).send(r.body);
    },
  );
}
