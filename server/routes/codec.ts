// The Temporal UI's (and CLI's `--codec-endpoint`) codec server: POST /codec/decode and /codec/encode, body and
// answer `{ payloads: [...] }`. Only a holder of an API token (read is enough) gets payloads decoded: the CLI, and
// a UI signed in through OIDC, pass it as `Authorization: Bearer …`. A UI without its own sign-in (the dev
// server's) passes nothing, but with "Include cross-origin credentials" set in its codec settings the browser
// sends the dashboard's session cookie (SameSite=Strict still goes to the same site, whatever the port): it is
// taken as that token, only from the configured UI origins or the server's own. The browser calls from the UI's
// origin, so the answers, and the preflight, carry CORS headers for the configured origins only.
import type { PayloadCodec } from '@temporalio/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteOptions } from '../app-context.ts';
import { ApiError } from '../../domain/api-error.ts';
import { DEFAULT_CODEC_CORS_ORIGINS } from '../config.ts';
import { errorResponses } from '../errors.ts';
import { payloadsFromJson, payloadsToJson } from '../codec-payloads.ts';
import type { JsonPayload } from '../codec-payloads.ts';
import type { TokenVerifier } from '../auth.ts';
import { sessionOf } from '../dashboard/session.ts';

/** A history's worth: Temporal keeps one under 50 MB. */
const BODY_LIMIT = 64 * 1024 * 1024;
const MAX_PAYLOADS = 100_000;

const payloadSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    metadata: { type: 'object', additionalProperties: { type: 'string' } },
    data: { type: 'string' },
  },
} as const;

const bodySchema = {
  type: 'object',
  required: ['payloads'],
  additionalProperties: false,
  properties: { payloads: { type: 'array', maxItems: MAX_PAYLOADS, items: payloadSchema } },
} as const;

export async function codecRoutes(
  app: FastifyInstance,
  { ctx, verifier }: RouteOptions & { verifier: TokenVerifier },
): Promise<void> {
  const origins = new Set(ctx.config.codecEndpoint?.corsOrigins ?? DEFAULT_CODEC_CORS_ORIGINS);
  /** No bearer token (server/auth.ts let it through): the dashboard session, from a UI origin or this server's. */
  const bySession = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (request.headers.authorization !== undefined) return;
    const origin = request.headers.origin;
    const fromHere = (() => {
      try {
        return origin !== undefined && new URL(origin).host === request.headers.host;
      } catch {
        return false;
      }
    })();
    const session = sessionOf(request, verifier);
    if (!session || origin === undefined || !(origins.has(origin) || fromHere)) {
      reply.header('www-authenticate', 'Bearer realm="vaquero"');
      throw new ApiError(
        401,
        'unauthorized',
        'a bearer token is required (Authorization: Bearer TOKEN), or the dashboard session from the Temporal UI with cross-origin credentials',
      );
    }
    request.principal = session.principal;
  };
  const cors = (request: FastifyRequest, reply: FastifyReply) => {
    const origin = request.headers.origin;
    if (origin === undefined || !origins.has(origin)) return;
    reply.header('access-control-allow-origin', origin);
    reply.header('vary', 'Origin');
    reply.header('access-control-allow-credentials', 'true');
  };
  // Errors (401 included) carry the headers too, so the UI can say why instead of "network error".
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/codec/')) cors(request, reply);
  });

  for (const op of ['decode', 'encode'] as const) {
    app.options(
      `/codec/${op}`,
      { config: { access: 'preflight' }, schema: { hide: true } },
      async (request, reply) => {
        if (request.headers.origin === undefined || !origins.has(request.headers.origin)) {
          throw new ApiError(
            403,
            'forbidden',
            `origin ${request.headers.origin ?? '(none)'} may not call the codec`,
          );
        }
        reply.header('access-control-allow-methods', 'POST, OPTIONS');
        reply.header('access-control-allow-headers', 'authorization, content-type, x-namespace');
        reply.header('access-control-max-age', '600');
        return reply.code(204).send();
      },
    );
    app.post<{ Body: { payloads: JsonPayload[] } }>(
      `/codec/${op}`,
      {
        config: { access: 'codec' },
        onRequest: bySession,
        bodyLimit: BODY_LIMIT,
        schema: {
          tags: ['operations'],
          summary:
            op === 'decode'
              ? 'Decrypt payloads for the Temporal UI or CLI (codec server protocol)'
              : 'Encrypt payloads with the current key (codec server protocol)',
          description:
            'Temporal codec server protocol: proto3 JSON payloads, `data` and metadata values base64. Payloads this codec did not encrypt come back unchanged.',
          headers: {
            type: 'object',
            properties: { 'x-namespace': { type: 'string', description: 'Sent by the UI; informational' } },
          },
          body: bodySchema,
          response: {
            200: bodySchema,
            ...errorResponses(400, 413),
          },
        },
      },
      async (request) => {
        const payloads = payloadsFromJson(request.body.payloads);
        const codec: PayloadCodec | undefined = ctx.codec;
        if (!codec) return { payloads: payloadsToJson(payloads) };
        try {
          return { payloads: payloadsToJson(await codec[op](payloads)) };
        } catch (err) {
          throw new ApiError(400, 'bad_payload', err instanceof Error ? err.message : String(err));
        }
      },
    );
  }
}
