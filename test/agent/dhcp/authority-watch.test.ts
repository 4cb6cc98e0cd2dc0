// The authoritative-DHCP detector's bookkeeping without sockets (authority.ts): its own answers are not foreign,
// the table of other servers is bounded and forgets, and a proxy-mode episode of "missing" is logged once and
// ends when a server answers. The namespace test (authority.test.ts) checks it with dnsmasq and udhcpc.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { peerAgentAddresses } from '../../../agent/boot-services.ts';
import { createAuthorityWatch } from '../../../agent/dhcp/authority.ts';
import type { DhcpPacket } from '../../../agent/dhcp/codec.ts';
import { BOOTREPLY, BOOTREQUEST } from '../../../agent/dhcp/codec.ts';
import { encodeIp, MessageType, Opt } from '../../../agent/dhcp/options.ts';
import type { ModelCache } from '../../../agent/model-cache.ts';
import type { SiteModel } from '../../../domain/site-model.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const OWN = (address: string): boolean => address === '10.0.0.1';

function packet(op: 1 | 2, type: number, serverId?: string, yiaddr = '0.0.0.0'): DhcpPacket {
  const options = new Map<number, Buffer>([[Opt.MessageType, Buffer.from([type])]]);
  if (serverId !== undefined) options.set(Opt.ServerId, encodeIp(serverId));
  return {
    op: op === 1 ? BOOTREQUEST : BOOTREPLY,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 1,
    secs: 0,
    flags: 0x8000,
    ciaddr: '0.0.0.0',
    yiaddr,
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: Buffer.alloc(16),
    sname: '',
    file: '',
    options,
  } as DhcpPacket;
}
const offer = (id: string, yiaddr = '10.0.0.50'): DhcpPacket => packet(2, MessageType.Offer, id, yiaddr);

test('server mode: own answers are not foreign; each other server is logged once; the table is bounded and forgets', () => {
  let t = 1_000_000;
  const logs: string[] = [];
  const w = createAuthorityWatch({
    mode: 'server',
    log: (m) => logs.push(m),
    maxServers: 3,
    memoryMs: 60_000,
    now: () => t,
  });
  w.reply(offer('10.0.0.1'), '10.0.0.1', 'eth0', OWN);
  assert.deepEqual(w.report().foreignServers, []);
  assert.equal(w.report().foreignReplies, 0);

  w.reply(offer('10.0.0.2'), '10.0.0.2', 'eth0', OWN);
  w.reply(packet(2, MessageType.Ack, '10.0.0.2', '10.0.0.50'), '10.0.0.2', 'eth0', OWN);
  // A DISCOVER, a client's own broadcast, or a reply without a message type: nothing learnt.
  w.reply(packet(1, MessageType.Discover), '0.0.0.0', 'eth0', OWN);
  w.reply(packet(2, MessageType.Inform, '10.0.0.9'), '10.0.0.9', 'eth0', OWN);
  assert.deepEqual(logs, [
    'dhcp: another DHCP server answers on eth0: 10.0.0.2 (server id 10.0.0.2): a conflict in server mode',
  ]);
  const r = w.report();
  assert.equal(r.foreignReplies, 2);
  assert.equal(r.foreignServers.length, 1);
  assert.equal(r.foreignServers[0]!.replies, 2);
  assert.equal(r.authoritativeSeen, null);

  // A client REQUEST naming another server reveals it even when its OFFER was unicast.
  w.request(packet(1, MessageType.Request, '10.0.0.3'), MessageType.Request, 'eth0', false, OWN);
  w.request(packet(1, MessageType.Request, '10.0.0.1'), MessageType.Request, 'eth0', false, OWN);
  assert.equal(w.report().foreignRequests, 1);
  assert.match(logs[1]!, /10\.0\.0\.3 \(named by a client REQUEST\): a conflict in server mode/);

  // Full at 3: the 4th and 5th are counted, not listed, and the table's fullness is logged once.
  for (const id of ['10.0.0.4', '10.0.0.5', '10.0.0.6']) w.reply(offer(id), id, 'eth0', OWN);
  const full = w.report();
  assert.equal(full.foreignServers.length, 3);
  assert.equal(full.untracked, 2);
  assert.equal(logs.filter((l) => l.includes('more than 3 other DHCP servers')).length, 1);

  // An hour without them (here a minute): forgotten, and a new one is listed and logged.
  t += 61_000;
  assert.equal(w.report().foreignServers.length, 0);
  w.reply(offer('10.0.0.2'), '10.0.0.2', 'eth0', OWN);
  assert.equal(w.report().foreignServers.length, 1);
  assert.equal(logs.filter((l) => l.includes(': 10.0.0.2 (server id')).length, 2);
  w.stop();
});

test('proxy mode: unanswered DISCOVERs are one "missing" episode; an address offer ends it; a ProxyDHCP offer does not', async () => {
  const logs: string[] = [];
  const w = createAuthorityWatch({ mode: 'proxy', log: (m) => logs.push(m), windowMs: 80 });
  const discover = packet(1, MessageType.Discover);
  // DISCOVERs from hosts the agent does not serve open no window.
  w.request(discover, MessageType.Discover, 'eth0', false, OWN);
  await sleep(150);
  assert.equal(w.report().authoritativeSeen, null);

  w.request(discover, MessageType.Discover, 'eth0', true, OWN);
  w.request(discover, MessageType.Discover, 'eth0', true, OWN);
  // Another ProxyDHCP server's offer (no address) is not the server relied on.
  w.reply(offer('10.0.0.7', '0.0.0.0'), '10.0.0.7', 'eth0', OWN);
  await sleep(150);
  let r = w.report();
  assert.equal(r.authoritativeSeen, false);
  assert.equal(r.missingEpisodes, 1);
  assert.ok(r.missingSince !== undefined);
  const missing = logs.filter((l) =>
    l.startsWith('dhcp: expected DHCP server missing on eth0: 2 DISCOVER(s)'),
  );
  assert.equal(missing.length, 1, logs.join('\n'));
  assert.ok(logs.some((l) => l.includes('10.0.0.7') && l.includes('another ProxyDHCP server')));

  // Still nothing: the same episode, not logged again.
  w.request(discover, MessageType.Discover, 'eth0', true, OWN);
  await sleep(150);
  assert.equal(w.report().missingEpisodes, 1);
  assert.equal(logs.filter((l) => l.includes('expected DHCP server missing')).length, 1);

  // The site server answers: seen again, the episode ends.
  w.request(discover, MessageType.Discover, 'eth0', true, OWN);
  w.reply(offer('10.0.0.2'), '10.0.0.2', 'eth0', OWN);
  await sleep(150);
  r = w.report();
  assert.equal(r.authoritativeSeen, true);
  assert.equal(r.missingSince, undefined);
  assert.ok(logs.some((l) => l.includes('answers again (10.0.0.2)')));
  w.stop();
});

test("the site's other agents (by their http_url address) are not foreign; this agent's own entry is not a peer", () => {
  const held: { model?: SiteModel } = {};
  const cache = { siteModel: () => held.model } as unknown as ModelCache;
  const peers = peerAgentAddresses(cache, 'a1');
  assert.deepEqual([...peers()], []);
  held.model = {
    sot: 's',
    revision: 'r',
    site: 'lab',
    httpUrl: 'http://10.0.0.1:8080',
    dhcpMode: 'server',
    subnets: [],
    reservations: [],
    agents: [
      { id: 'a1', httpUrl: 'http://10.0.0.1:8080', dhcpMode: 'server' },
      { id: 'a2', httpUrl: 'http://10.0.0.2:8080/', dhcpMode: 'server' },
      { id: 'a3', httpUrl: 'http://agent3.lab.example:8080', dhcpMode: 'server' },
    ],
  };
  assert.deepEqual([...peers()], ['10.0.0.2']);
  const logs: string[] = [];
  const w = createAuthorityWatch({ mode: 'server', log: (m) => logs.push(m) });
  const known = (a: string): boolean => OWN(a) || peers().has(a);
  w.reply(offer('10.0.0.2'), '10.0.0.2', 'eth0', known);
  w.reply(offer('10.0.0.3'), '10.0.0.3', 'eth0', known);
  assert.deepEqual(
    w.report().foreignServers.map((s) => s.serverId),
    ['10.0.0.3'],
  );
  w.stop();
});
