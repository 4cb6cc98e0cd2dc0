// Runs inside the server namespace: hosts one TFTP server at a time on commands from the test over IPC and
// forwards its events. Exits when the IPC channel closes, so a crashed test leaves nothing behind.
import { createTftpServer } from '../../../../agent/tftp/index.ts';
import type { TftpServer } from '../../../../agent/tftp/index.ts';
import type { FromServer, ServerSpec, ToServer } from './protocol.ts';

let server: TftpServer | undefined;

function reply(m: FromServer): void {
  process.send?.(m);
}

function build(spec: ServerSpec): TftpServer {
  const { virtual, redirect, ...opts } = spec;
  return createTftpServer({
    ...opts,
    onEvent: (event) => reply({ event }),
    ...(virtual || redirect
      ? {
          resolve: async (name: string) => {
            if (virtual?.[name] !== undefined) return { data: Buffer.from(virtual[name]) };
            if (redirect?.[name] !== undefined) return { path: redirect[name] };
            return undefined;
          },
        }
      : {}),
  });
}

process.on('message', (raw) => {
  const m = raw as ToServer;
  void (async () => {
    try {
      if (m.cmd === 'start') {
        if (server) await server.stop();
        server = build(m.spec);
        await server.start();
        reply({ id: m.id, ok: true });
      } else if (m.cmd === 'stats') {
        if (!server) throw new Error('no server');
        reply({ id: m.id, ok: true, stats: server.stats() });
      } else {
        await server?.stop();
        server = undefined;
        reply({ id: m.id, ok: true });
      }
    } catch (err) {
      reply({ id: m.id, ok: false, error: (err as Error).message });
    }
  })();
});
process.on('disconnect', () => {
  void (server?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
});
process.send?.({ id: 0, ok: true });
