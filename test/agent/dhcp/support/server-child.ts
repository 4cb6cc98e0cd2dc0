// Runs the agent's DHCP server inside a namespace for a test (spawned with `ip netns exec … node --import tsx`).
// The test drives it over IPC: start with a spec, read stats and bindings, stop. Events are forwarded as they
// happen.
import { createSiteDirectory } from '../../../../agent/dhcp/directory.ts';
import type { DhcpServer } from '../../../../agent/dhcp/server.ts';
import { createDhcpServer } from '../../../../agent/dhcp/server.ts';
import type { NetbootEntry } from '../../../../domain/site-model.ts';
import type { FromServer, ServerSpec, ToServer } from './protocol.ts';

const send = (m: FromServer): void => void process.send?.(m);
let server: DhcpServer | undefined;

function gate(spec: ServerSpec): (mac: string) => NetbootEntry | undefined {
  const open = new Set(spec.open.map((m) => m.toLowerCase()));
  const byMac = new Map(spec.reservations.map((r) => [r.mac.toLowerCase(), r]));
  const grub = new Set((spec.grub ?? []).map((m) => m.toLowerCase()));
  return (mac) => {
    const r = byMac.get(mac);
    if (!r) return undefined;
    const isOpen = open.has(mac);
    return {
      site: 'lab',
      host: r.host,
      mac,
      open: isOpen,
      sot: 'test',
      revision: 'r1',
      bootStage: isOpen ? 1 : 0,
      workflowId: `host/lab/${r.host}`,
      runId: 'run',
      updatedAt: Date.now(),
      ...(isOpen && grub.has(mac)
        ? {
            artifacts: {
              bootStage: 1,
              ipxe: '#!ipxe\n',
              kernel: `${spec.boot.httpUrl}/assets/linux`,
              initrds: [],
              cmdline: 'quiet',
              loader: 'grub' as const,
              grub: 'boot\n',
            },
          }
        : {}),
    };
  };
}

async function onMessage(m: ToServer): Promise<void> {
  try {
    switch (m.op) {
      case 'start':
        server = createDhcpServer({
          mode: m.spec.mode,
          interfaces: m.spec.interfaces,
          directory: createSiteDirectory(m.spec, gate(m.spec)),
          boot: m.spec.boot,
          ...(m.spec.leaseSeconds !== undefined ? { leaseSeconds: m.spec.leaseSeconds } : {}),
          ...(m.spec.limits !== undefined ? { limits: m.spec.limits } : {}),
          ...(m.spec.broadcastReplies !== undefined ? { broadcastReplies: m.spec.broadcastReplies } : {}),
          onEvent: (event) => send({ event }),
          log: (msg) => send({ log: msg }),
        });
        await server.start();
        send({ id: m.id, ok: true });
        break;
      case 'stats':
        send({ id: m.id, ok: true, ...(server ? { stats: server.stats() } : {}) });
        break;
      case 'bindings':
        send({ id: m.id, ok: true, ...(server ? { bindings: server.bindings.list() } : {}) });
        break;
      case 'stop':
        await server?.stop();
        send({ id: m.id, ok: true });
        process.disconnect?.();
        break;
    }
  } catch (err) {
    send({ id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) });
  }
}

process.on('message', (m) => void onMessage(m as ToServer));
// The test's end of the channel closing means the test is gone: do not linger in the namespace.
process.on('disconnect', () => {
  void (server?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
});
