// How a browser presents an API token to the dashboard, and why this way.
//
// The dashboard's live updates come over EventSource, which cannot send an Authorization header, and its links and
// forms cannot either; so after the login form (POST /ui/login) has checked the token against the same verifier
// as the API, the token is kept in a cookie that is:
//   * HttpOnly: no script on the page can read it, so an injected script cannot carry the token off;
//   * SameSite=Strict: the browser does not send it with requests started by another site;
//   * Secure when the request came over HTTPS, Path=/, and ends with the browser session or after 12 h.
// The cookie is accepted only by the dashboard's own routes (auth `session` in server/auth.ts), never by the
// REST API: API clients keep bearer tokens, and a cookie can never authorise an API call. The read/operate roles
// are the token's, as in the API.
// Cross-site request forgery of the buttons (pause, resume, abort, logout): each is a POST form carrying a CSRF
// token, an HMAC of the session token (so it needs no server state and differs for every token), compared in
// constant time; and a request whose Origin header names another origin is refused. SameSite alone would leave
// browsers that ignore it, and same-site neighbours (other subdomains), able to post.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal, TokenVerifier } from '../auth.ts';

export const SESSION_COOKIE = 'vaquero_session';
const MAX_AGE_S = 12 * 3600;

export interface Session {
  principal: Principal;
  /** For the forms of this page. */
  csrf: string;
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export function csrfFor(token: string): string {
  return createHmac('sha256', token).update('vaquero dashboard csrf').digest('base64url');
}

/** The request's session, when its cookie holds a token the verifier knows. */
export function sessionOf(request: FastifyRequest, verifier: TokenVerifier): Session | undefined {
  const token = readCookie(request.headers.cookie, SESSION_COOKIE);
  if (!token) return undefined;
  const principal = verifier.verify(token);
  return principal ? { principal, csrf: csrfFor(token) } : undefined;
}

function secure(request: FastifyRequest): boolean {
  return request.protocol === 'https';
}

export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, token: string): void {
  reply.header(
    'set-cookie',
    `${SESSION_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${MAX_AGE_S}${secure(request) ? '; Secure' : ''}`,
  );
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  reply.header(
    'set-cookie',
    `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0${secure(request) ? '; Secure' : ''}`,
  );
}

/** Whether a form post carries this session's CSRF token and, when the browser names its origin, comes from here. */
export function formAllowed(request: FastifyRequest, session: Session, presented: unknown): boolean {
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    const host = request.headers.host;
    let ok: boolean;
    try {
      ok = host !== undefined && new URL(origin).host === host;
    } catch {
      ok = false;
    }
    if (!ok) return false;
  } else if (origin === 'null') {
    return false;
  }
  if (typeof presented !== 'string') return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}
