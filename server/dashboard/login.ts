// Signing in and out of the dashboard: GET /ui/login shows the form, POST /ui/login checks the token with the
// API's verifier and sets the session cookie (see session.ts for why a cookie), POST /ui/logout clears it.
import type { FastifyInstance } from 'fastify';
import type { TokenVerifier } from '../auth.ts';
import { html } from './html.ts';
import { page } from './layout.ts';
import { CSP } from './pages.ts';
import { clearSessionCookie, formAllowed, sessionOf, setSessionCookie } from './session.ts';

function loginPage(error?: string) {
  return page({
    title: 'Sign in',
    body: html`<form method="post" action="/ui/login" class="login">
      <h1>Sign in to vaquero</h1>
      <p>
        Paste an API token: a read token shows the fleet, an operate token can also pause, resume and abort
        rollouts.
      </p>
      ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
      <label
        >Token <input type="password" name="token" autocomplete="current-password" required autofocus
      /></label>
      <button type="submit">Sign in</button>
    </form>`,
  });
}

export async function dashboardLogin(app: FastifyInstance, opts: { verifier: TokenVerifier }): Promise<void> {
  const hide = { hide: true };
  app.get('/ui/login', { config: { access: 'session' }, schema: hide }, async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .send(loginPage().text),
  );
  app.post<{ Body: { token?: string } }>(
    '/ui/login',
    { config: { access: 'session' }, schema: hide },
    async (request, reply) => {
      // Signing in needs no CSRF token (there is no session yet), but another site's page must not sign a browser
      // in with its own token: the Origin header, when sent, must be this server's.
      const origin = request.headers.origin;
      if (origin !== undefined && (origin === 'null' || new URL(origin).host !== request.headers.host))
        return reply.code(403).type('text/plain').send('cross-origin sign-in refused');
      const token = typeof request.body?.token === 'string' ? request.body.token.trim() : '';
      if (!token || !opts.verifier.verify(token))
        return reply
          .code(401)
          .type('text/html; charset=utf-8')
          .send(loginPage('That token is not valid.').text);
      setSessionCookie(request, reply, token);
      return reply.redirect('/', 303);
    },
  );
  app.post<{ Body: { csrf?: string } }>(
    '/ui/logout',
    { config: { access: 'session' }, schema: hide },
    async (request, reply) => {
      const session = sessionOf(request, opts.verifier);
      if (session && !formAllowed(request, session, request.body?.csrf))
        return reply.code(403).type('text/plain').send('form refused (CSRF)');
      clearSessionCookie(request, reply);
      return reply.redirect('/ui/login', 303);
    },
  );
}
