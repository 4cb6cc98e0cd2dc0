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
import { ownAgentEntry } from '../../own-agent.ts';

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
      // This agent's SoT tftp_root, a sub-folder of the TFTP root, as TFTP serves it (boot-services.ts).
      const sub = ownAgentEntry(opts.cache.siteModel(), opts.agentId)?.tftpRoot;
      const found = await resolveServed(
        { root, trusted },
        sub === undefined ? req.params.file : `${sub}/${req.params.file}`,
      );
      // A refusal is what the host asked for and did not get: on its timeline (once per run: the recorder).
      const refused = async (code: number, reason: string) => {
        await opts.recorder.record({
          kind: 'refused',
          ip: req.ip,
          detail: `http /boot/${req.params.file}: ${reason}`,
        });
        return reply.code(code).send({ error: reason });
      };
      if (!found.ok) return refused(found.code === ERR_NOT_FOUND ? 404 : 403, found.reason);
      const st = await stat(found.path);
      if (!st.isFile()) return refused(403, 'not a file');
      if (req.method === 'GET')
        await opts.recorder.record({ kind: 'tftp', ip: req.ip, detail: `HTTP boot ${req.params.file}` });
      reply.header('content-length', st.size).type('application/efi');
      return req.method === 'HEAD' ? reply.send() : reply.send(createReadStream(found.path));
    },
  });
}
