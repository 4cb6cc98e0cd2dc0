// GET|HEAD /boot/<file>: the iPXE binaries (the TFTP root) for UEFI HTTP boot, which fetches its first program here
// (HEAD, then GET) instead of over TFTP; the same confinement as TFTP.
import type { FastifyInstance } from 'fastify';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { ERR_NOT_FOUND } from '../../tftp/packets.ts';
import { resolveServed } from '../../tftp/path-safety.ts';
import { DEBIAN_IPXE_LINK_TARGETS } from '../../tftp/server.ts';
import type { AgentHttpContext } from '../http-context.ts';

export async function bootFilesRoute(app: FastifyInstance, { opts }: AgentHttpContext, bootRoot: string) {
  const root = await realpath(path.resolve(bootRoot));
  const trusted = (
    await Promise.all(DEBIAN_IPXE_LINK_TARGETS.map((t) => realpath(t).catch(() => '')))
  ).filter(Boolean);
  app.route<{ Params: { file: string } }>({
    method: ['GET', 'HEAD'],
    url: '/boot/:file',
    schema: {
      params: {
        type: 'object',
        properties: { file: { type: 'string', maxLength: 255, pattern: '^[A-Za-z0-9._-]+$' } },
        required: ['file'],
      },
    },
    handler: async (req, reply) => {
      const found = await resolveServed({ root, trusted }, req.params.file);
      if (!found.ok)
        return reply.code(found.code === ERR_NOT_FOUND ? 404 : 403).send({ error: found.reason });
      const st = await stat(found.path);
      if (!st.isFile()) return reply.code(403).send({ error: 'not a file' });
      if (req.method === 'GET')
        await opts.recorder.record({ kind: 'tftp', ip: req.ip, detail: `HTTP boot ${req.params.file}` });
      reply.header('content-length', st.size).type('application/efi');
      return req.method === 'HEAD' ? reply.send() : reply.send(createReadStream(found.path));
    },
  });
}
