// GET /ipxe?mac=…[&boot=…]: the host's iPXE script for its current boot stage, with the run's checkpoint token; to
// that host only (host-binding.ts). A host that must not network-boot now gets a script that gives up. The script
// goes back to DHCP when a fetch or the boot fails (withBootRetry), so a host whose serving agent died mid-boot
// boots through another agent of its broadcast domain.
import type { FastifyInstance } from 'fastify';
import { withBootRetry } from '../../../sot/ipxe-script.ts';
import { normaliseMac, NO_NETBOOT_SCRIPT } from '../artifact-text.ts';
import { CREDENTIAL_SCHEMA, refuseBinding, servedText } from '../http-context.ts';
import type { AgentHttpContext } from '../http-context.ts';

export function ipxeScriptRoute(app: FastifyInstance, ctx: AgentHttpContext): void {
  app.get<{ Querystring: { mac?: string; boot?: string } }>(
    '/ipxe',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { mac: { type: 'string', maxLength: 32 }, boot: CREDENTIAL_SCHEMA },
        },
      },
    },
    async (req, reply) => {
      reply.type('text/plain; charset=utf-8');
      const b = await ctx.binding.resolve(req.ip, normaliseMac(req.query.mac), req.query.boot);
      if (!b.ok) {
        refuseBinding(ctx, req, reply, b);
        return b.status === 404 ? NO_NETBOOT_SCRIPT : `#!ipxe\necho vaquero: ${b.reason}\nexit 1\n`;
      }
      const e = b.entry;
      await ctx.opts.recorder.record({
        kind: 'ipxe',
        mac: e.mac,
        detail: `iPXE script, boot stage ${e.bootStage}`,
      });
      return servedText(ctx, e, withBootRetry(e.artifacts!.ipxe));
    },
  );
}
