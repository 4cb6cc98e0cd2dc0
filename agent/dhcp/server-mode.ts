// Server mode: the agent is the segment's DHCP server for the hosts it knows, each with its static reservation
// (there are no pools). REQUEST handling follows RFC 2131 §4.3.2: the client's state is read from which of
// server identifier, requested address and ciaddr it filled in.
import { chooseBoot } from './boot.ts';
import { explainNoBootFile } from './no-boot-file.ts';
import type { DhcpHandler, HandlerRequest, HandlerResult, ModeSettings } from './handler.ts';
import { bootConfigFor } from './handler.ts';
import { encodeText, getIp, MESSAGE_NAMES, MessageType, Opt } from './options.ts';
import {
  addBoot,
  addEchoes,
  addLeaseTimes,
  encodeSubnet,
  fitReply,
  replyDestination,
  startReply,
} from './reply.ts';

const ZERO = '0.0.0.0';

function noAddress(req: HandlerRequest, warn: (msg: string) => void): HandlerResult {
  const r = req.host.reservation;
  warn(
    `host ${r.host} (${r.mac}) has no IPv4 reservation in subnet ${r.subnet}: server mode cannot answer it`,
  );
  return { counters: ['noAddress'] };
}

export function createServerModeHandler(
  settings: ModeSettings,
  warn: (msg: string) => void = () => undefined,
): DhcpHandler {
  function answer(
    req: HandlerRequest,
    type: typeof MessageType.Offer | typeof MessageType.Ack,
    ip: string,
  ): HandlerResult {
    const { packet, host, client, iface } = req;
    const reply = startReply(packet, type, iface.address);
    reply.yiaddr = ip;
    if (type === MessageType.Ack) reply.ciaddr = packet.ciaddr;
    addLeaseTimes(reply, settings.leaseSeconds);
    const subnet = encodeSubnet(host.subnet);
    for (const e of subnet.errors) warn(e);
    for (const [code, value] of subnet.options) reply.options.set(code, value);
    if (host.reservation.hostname) reply.options.set(Opt.Hostname, encodeText(host.reservation.hostname));
    const decision = chooseBoot(client, host, bootConfigFor(settings, 'server', iface));
    if (decision.boot) addBoot(reply, packet, decision, { discoveryControl: false, client });
    addEchoes(reply, packet);
    fitReply(reply, packet);
    const name = MESSAGE_NAMES[type]!;
    const gated = !decision.boot && decision.reason === 'gated' && client.netboot;
    const suffix = decision.boot ? ` ${decision.shown}` : gated ? ' (no boot file: netboot gate closed)' : '';
    const refused = client.netboot ? explainNoBootFile(decision, client) : undefined;
    return {
      reply: { packet: reply, to: replyDestination(packet, reply, settings.ports) },
      counters: [type === MessageType.Offer ? 'offers' : 'acks', ...(gated ? (['gated'] as const) : [])],
      event: {
        message: name,
        ip,
        ...(decision.boot ? { bootFile: decision.shown } : {}),
        detail: `${name} ${ip}${suffix}`,
      },
      ...(type === MessageType.Ack ? { binding: { ip, seconds: settings.leaseSeconds, source: 'ack' } } : {}),
      ...(refused !== undefined ? { refused } : {}),
    };
  }

  function nak(req: HandlerRequest, why: string): HandlerResult {
    const reply = startReply(req.packet, MessageType.Nak, req.iface.address);
    reply.options.set(Opt.Message, encodeText(why));
    addEchoes(reply, req.packet);
    return {
      reply: { packet: reply, to: replyDestination(req.packet, reply, settings.ports) },
      counters: ['naks'],
      event: { message: 'DHCPNAK', detail: `DHCPNAK ${why}` },
      binding: 'remove',
    };
  }

  function request(req: HandlerRequest, ip: string | undefined): HandlerResult {
    const serverId = getIp(req.packet, Opt.ServerId);
    const requested = getIp(req.packet, Opt.RequestedIp);
    const ciaddr = req.packet.ciaddr !== ZERO ? req.packet.ciaddr : undefined;
    if (serverId !== undefined && !req.ownAddresses.has(serverId)) return { counters: ['otherServer'] };
    if (!ip) return noAddress(req, warn);
    // SELECTING (server id + requested) and INIT-REBOOT (requested only) name the address in option 50;
    // RENEWING/REBINDING name it in ciaddr. Some clients put it in ciaddr when selecting as well.
    const wanted = requested ?? ciaddr;
    if (wanted === undefined) return { counters: ['ignored'] };
    if (wanted !== ip) return nak(req, `requested ${wanted}, reserved ${ip}`);
    return answer(req, MessageType.Ack, ip);
  }

  function inform(req: HandlerRequest): HandlerResult {
    // RFC 2131 §3.4: configuration only; the client already has its address, so no yiaddr and no lease time.
    const { packet, host, iface } = req;
    if (packet.ciaddr === ZERO) return { counters: ['ignored'] };
    const reply = startReply(packet, MessageType.Ack, iface.address);
    reply.ciaddr = packet.ciaddr;
    const subnet = encodeSubnet(host.subnet);
    for (const [code, value] of subnet.options) reply.options.set(code, value);
    addEchoes(reply, packet);
    fitReply(reply, packet);
    return {
      reply: { packet: reply, to: replyDestination(packet, reply, settings.ports) },
      counters: ['acks'],
      event: { message: 'DHCPACK', ip: packet.ciaddr, detail: `DHCPACK (inform) ${packet.ciaddr}` },
    };
  }

  return {
    mode: 'server',
    handle(req) {
      const ip = req.host.reservation.ipv4;
      switch (req.messageType) {
        case MessageType.Discover:
          return ip ? answer(req, MessageType.Offer, ip) : noAddress(req, warn);
        case MessageType.Request:
          return request(req, ip);
        case MessageType.Decline: {
          const serverId = getIp(req.packet, Opt.ServerId);
          if (serverId !== undefined && !req.ownAddresses.has(serverId)) return { counters: ['otherServer'] };
          // With static reservations there is no other address to offer: tell the operator, forget the binding.
          const bad = getIp(req.packet, Opt.RequestedIp) ?? ip;
          return {
            counters: ['declines'],
            event: {
              message: 'DHCPDECLINE',
              ...(bad !== undefined ? { ip: bad } : {}),
              detail: `DHCPDECLINE ${bad} (the client found the address in use)`,
            },
            binding: 'remove',
          };
        }
        case MessageType.Release:
          return {
            counters: ['releases'],
            event: {
              message: 'DHCPRELEASE',
              ip: req.packet.ciaddr,
              detail: `DHCPRELEASE ${req.packet.ciaddr}`,
            },
            binding: 'remove',
          };
        case MessageType.Inform:
          return inform(req);
        default:
          return { counters: ['ignored'] };
      }
    },
  };
}
