// Bearer tokens with two roles: `read` (every GET) and `operate` (also every action that changes something).
// Tokens are compared as SHA-256 digests with crypto.timingSafeEqual, so neither a token's length nor how much
// of it matches shows in the response time, and every configured token is compared on every request.
// Each route says what it needs in its config: `access: 'read' | 'operate' | 'signature'` (the webhook
// authenticates by its HMAC instead); `openable` names the routes configuration may open to anyone.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiToken, OpenableRoute, Role } from './config.ts';
import { ApiError } from '../domain/api-error.ts';

/**
 * `preflight`: a CORS preflight (OPTIONS), which browsers send without credentials; it answers headers only.
 * `session`: a dashboard page (server/dashboard/), which checks the same tokens itself, from its session cookie.
 * `codec`: the codec endpoint: `read` by bearer token, or, with no Authorization header, the route checks the
 * dashboard's session cookie itself (the Temporal UI sends cookies, not tokens, when it includes credentials).
 */
export type Access = Role | 'signature' | 'preflight' | 'session' | 'codec';

export interface Principal {
  name: string;
  role: Role | 'anonymous';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
    openable?: OpenableRoute;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export class TokenVerifier {
  private readonly tokens: { name: string; role: Role; digest: Buffer }[];

  constructor(tokens: readonly ApiToken[]) {
    this.tokens = tokens.map((t) => ({ name: t.name, role: t.role, digest: digest(t.token) }));
  }

  get count(): number {
    return this.tokens.length;
  }

  /** The token's holder, or undefined. Compares against every token, whatever matched first. */
  verify(presented: string): Principal | undefined {
    const d = digest(presented);
    let found: Principal | undefined;
    for (const t of this.tokens) {
      if (timingSafeEqual(d, t.digest) && !found) found = { name: t.name, role: t.role };
    }
    return found;
  }
}

function bearer(request: FastifyRequest): string | undefined {
  const h = request.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(h);
  return m ? m[1] : '';
}

/** What a request needs: its route's config, the docs' openable prefix, and `read` for anything unmatched. */
function requirement(request: FastifyRequest): { access: Access; openable?: OpenableRoute } {
  const cfg = request.routeOptions.config as { access?: Access; openable?: OpenableRoute } | undefined;
  if (cfg?.access)
    return { access: cfg.access, ...(cfg.openable !== undefined ? { openable: cfg.openable } : {}) };
  const path = request.url.split('?')[0]!;
  if (path === '/docs' || path.startsWith('/docs/')) return { access: 'read', openable: '/docs' };
  return { access: 'read' };
}

export function installAuth(
  app: FastifyInstance,
  opts: { tokens: readonly ApiToken[]; open: readonly OpenableRoute[] },
): TokenVerifier {
  const verifier = new TokenVerifier(opts.tokens);
  const open = new Set(opts.open);
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request, reply) => {
    const need = requirement(request);
    if (need.access === 'signature' || need.access === 'preflight' || need.access === 'session') return;
    if (need.access === 'codec' && request.headers.authorization === undefined) return;
    if (need.openable && open.has(need.openable)) {
      request.principal = { name: 'anonymous', role: 'anonymous' };
      return;
    }
    const token = bearer(request);
    if (token === undefined) {
      reply.header('www-authenticate', 'Bearer realm="vaquero"');
      throw new ApiError(401, 'unauthorized', 'a bearer token is required (Authorization: Bearer TOKEN)');
    }
    const who = token ? verifier.verify(token) : undefined;
    if (!who) {
      reply.header('www-authenticate', 'Bearer realm="vaquero", error="invalid_token"');
      throw new ApiError(401, 'unauthorized', 'the bearer token is not valid');
    }
    if (need.access === 'operate' && who.role !== 'operate') {
      throw new ApiError(403, 'forbidden', `token ${who.name} has role ${who.role}; this needs operate`);
    }
    request.principal = who;
  });
  return verifier;
}
