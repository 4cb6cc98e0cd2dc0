// POST /log/<checkpoint token>: an installer posts lines of its log (`curl --data-binary @/var/log/installer.log`,
// `wget --post-file`), any content type, one line per line. The token is the run's checkpoint token, so it names
// the host as the checkpoint does (no lookup table, no token in any history); a token of no open run gets 404 and
// nothing is kept. Bounded like every input: 64 KB a post, MAX_LINES_PER_POST lines (a long log goes in several).
import type { FastifyInstance } from 'fastify';
import { cleanLine } from '../../installer-logs/syslog-message.ts';
import type { AgentHttpContext } from '../http-context.ts';

const MAX_POST_BYTES = 64 * 1024;
const MAX_LINES_PER_POST = 500;

export function installerLogRoute(app: FastifyInstance, ctx: AgentHttpContext): void {
  const intake = ctx.opts.installerLogs;
  if (!intake) return;
  // Its own scope: every content type is taken as raw bytes here and nowhere else.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_POST_BYTES }, (_req, body, done) =>
      done(null, body),
    );
    scope.post<{ Params: { token: string }; Body: Buffer | undefined }>(
      '/log/:token',
      {
        bodyLimit: MAX_POST_BYTES,
        schema: {
          params: {
            type: 'object',
            properties: { token: { type: 'string', maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' } },
            required: ['token'],
          },
        },
      },
      async (req, reply) => {
        const text = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
        const all = text
          .split(/\r?\n/)
          .map(cleanLine)
          .filter((l) => l !== '');
        const lines = all.slice(0, MAX_LINES_PER_POST).map((t) => ({ text: t }));
        const gate = await intake.fromToken(req.params.token, req.ip, lines);
        if (!gate) {
          ctx.logNotes.set(req, { refused: 'bad_token', route: '/log/:token' });
          return reply.code(404).send({ error: 'unknown or expired token' });
        }
        return { ok: true, host: gate.host, kept: lines.length, cut: all.length - lines.length };
      },
    );
  });
}
