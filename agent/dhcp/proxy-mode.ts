// Proxy mode (PXE 2.1 ProxyDHCP): another server gives addresses; the agent gives only boot information, never
// an address (yiaddr stays 0). On port 67 it answers a PXE client's DISCOVER with a proxy offer; on port 4011 it
// answers the REQUEST a PXE client (EDK2, iPXE) unicasts to the proxy after binding, to the client's own port.
import type { BootDecision } from './boot.ts';
import { chooseBoot } from './boot.ts';
import { explainNoBootFile } from './no-boot-file.ts';
import { cidrContains } from './ipv4.ts';
import type { DhcpHandler, Endpoint, HandlerRequest, HandlerResult, ModeSettings } from './handler.ts';
import { bootConfigFor } from './handler.ts';
import { getIp, MessageType, Opt } from './options.ts';
import { addBoot, addEchoes, fitReply, replyDestination, startReply } from './reply.ts';

const ZERO = '0.0.0.0';

export function createProxyModeHandler(settings: ModeSettings): DhcpHandler {
  /**
   * The address the site's server gave, as the client states it: TFTP/HTTP map it back to the MAC. A DISCOVER
   * only names an address the client would like, so it teaches nothing.
   */
  function observed(req: HandlerRequest): Pick<HandlerResult, 'binding'> {
    const { packet } = req;
    if (req.messageType === MessageType.Discover) return {};
    const ip =
      getIp(packet, Opt.RequestedIp) ??
      (packet.ciaddr !== ZERO
        ? packet.ciaddr
        : req.port === settings.ports.pxe
          ? req.source.address
          : undefined);
    if (!ip || !cidrContains(req.host.subnet.cidr, ip)) return {};
    return { binding: { ip, seconds: settings.leaseSeconds, source: 'observed' } };
  }

  function noBoot(decision: Extract<BootDecision, { boot: false }>, req: HandlerRequest): HandlerResult {
    const refused = explainNoBootFile(decision, req.client);
    return {
      counters: [decision.reason === 'gated' ? 'gated' : 'ignored'],
      ...observed(req),
      ...(refused !== undefined ? { refused } : {}),
    };
  }

  function proxyReply(
    req: HandlerRequest,
    type: typeof MessageType.Offer | typeof MessageType.Ack,
    decision: Extract<BootDecision, { boot: true }>,
    to: Endpoint | undefined,
  ): HandlerResult {
    const { packet, client, iface } = req;
    const reply = startReply(packet, type, iface.address);
    if (type === MessageType.Ack) reply.ciaddr = packet.ciaddr;
    // Option 60 "PXEClient" is what makes a PXE client treat an offer without an address as a proxy offer.
    // PXE firmware is offered no PXE vendor options on port 67 (a "BINL" proxy offer), so it asks for its boot
    // file on 4011 (EDK2: PxeBcRetryBinlOffer) and gets it there with "use the boot file": offered that at once,
    // EDK2 skips 4011 and boots from the offer, which leaves the proxy's 4011 answer untried by real firmware.
    const binl = type === MessageType.Offer && decision.kind === 'tftp';
    addBoot(reply, packet, decision, { vendorClass: 'PXEClient', discoveryControl: !binl, client });
    addEchoes(reply, packet);
    fitReply(reply, packet);
    const where = req.port === settings.ports.pxe ? ` (port ${req.port})` : '';
    const what = type === MessageType.Offer ? 'offer' : 'ack';
    return {
      reply: { packet: reply, to: to ?? replyDestination(packet, reply, settings.ports) },
      counters: ['proxyReplies'],
      event: {
        message: `proxy ${what}`,
        bootFile: decision.shown,
        detail: `proxy ${what} ${decision.shown}${where}`,
      },
      ...observed(req),
    };
  }

  return {
    mode: 'proxy',
    handle(req) {
      const decision = chooseBoot(req.client, req.host, bootConfigFor(settings, 'proxy', req.iface));
      const type = req.messageType;
      if (req.port === settings.ports.pxe) {
        if (type !== MessageType.Request && type !== MessageType.Inform) return { counters: ['ignored'] };
        if (!decision.boot) return noBoot(decision, req);
        return proxyReply(req, MessageType.Ack, decision, req.source);
      }
      switch (type) {
        case MessageType.Discover:
          return decision.boot
            ? proxyReply(req, MessageType.Offer, decision, undefined)
            : noBoot(decision, req);
        case MessageType.Request: {
          // A REQUEST naming the proxy as server (some PXE ROMs) gets the boot answer; one naming the site's
          // server is none of our business, except for learning the address it asks for.
          const serverId = getIp(req.packet, Opt.ServerId);
          if (serverId !== undefined && req.ownAddresses.has(serverId) && decision.boot) {
            return proxyReply(req, MessageType.Ack, decision, undefined);
          }
          return { counters: ['otherServer'], ...observed(req) };
        }
        case MessageType.Release:
        case MessageType.Decline:
          return { counters: ['ignored'], binding: 'remove' };
        default:
          return { counters: ['ignored'] };
      }
    },
  };
}
