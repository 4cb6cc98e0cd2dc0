// What the agent reports to the site's status from its DHCP detector (agent-status-reporter.ts over
// authority-status.ts), with the real detector fed packets and a clock the test moves: the first check reports,
// a repeat of the same findings does not, a new conflict does, a continuing one refreshes its last-seen time only
// every refreshMs, and one not seen for clearAfterMs leaves the report. Proxy mode: the address-giving server is
// no conflict, another ProxyDHCP server is, and the expected server missing is reported and cleared.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startAgentStatusReporter } from '../../../agent/agent-status-reporter.ts';
import { createAuthorityWatch } from '../../../agent/dhcp/authority.ts';
import type { DhcpPacket } from '../../../agent/dhcp/codec.ts';
import { BOOTREPLY } from '../../../agent/dhcp/codec.ts';
import { encodeIp, MessageType, Opt } from '../../../agent/dhcp/options.ts';
import type { AgentStatusReport } from '../../../domain/agent-status.ts';
import { agentStatusAlerts } from '../../../temporal/agent-status-rows.ts';

const OWN = (a: string): boolean => a === '10.0.0.1';
const MIN = 60_000;

function offer(serverId: string, yiaddr: string): DhcpPacket {
  return {
    op: BOOTREPLY,
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
    options: new Map<number, Buffer>([
      [Opt.MessageType, Buffer.from([MessageType.Offer])],
      [Opt.ServerId, encodeIp(serverId)],
    ]),
  } as DhcpPacket;
}

function setup(mode: 'server' | 'proxy') {
  let t = Date.parse('2026-12-04T10:00:00Z');
  const watch = createAuthorityWatch({ mode, log: () => undefined, now: () => t, windowMs: 50 });
  const sent: AgentStatusReport[] = [];
  let failNext = false;
  const reporter = startAgentStatusReporter({
    site: 'lab',
    agent: 'a1',
    read: () => watch.report(),
    send: async (r) => {
      if (failNext) {
        failNext = false;
        throw new Error('Temporal unreachable');
      }
      sent.push(r);
    },
    checkEveryMs: 3_600_000,
    clearAfterMs: 15 * MIN,
    refreshMs: 10 * MIN,
    now: () => t,
  });
  return {
    watch,
    sent,
    reporter,
    advance: (ms: number) => (t += ms),
    failOnce: () => (failNext = true),
  };
}

test('server mode: changes are reported, repeats are not, last-seen refreshes are spaced, a gone server clears', async () => {
  const { watch, sent, reporter, advance, failOnce } = setup('server');
  await reporter.check();
  assert.equal(sent.length, 1, 'the first check reports, even with nothing found');
  assert.deepEqual(sent[0]!.dhcp, { mode: 'server', conflicts: [], moreConflicts: 0 });
  await reporter.check();
  assert.equal(sent.length, 1, 'nothing changed');

  watch.reply(offer('10.0.0.2', '10.0.0.50'), '10.0.0.2', 'eth0', OWN);
  failOnce();
  await reporter.check();
  assert.equal(sent.length, 1, 'the send failed');
  await reporter.check();
  assert.equal(sent.length, 2, 'retried at the next check');
  const c = sent[1]!.dhcp!.conflicts;
  assert.deepEqual(
    c.map((x) => [x.serverId, x.source, x.interface, x.lastSeen]),
    [['10.0.0.2', '10.0.0.2', 'eth0', '2026-12-04T10:00:00.000Z']],
  );
  assert.deepEqual(agentStatusAlerts(sent[1]!), [
    'DHCP conflict: 10.0.0.2 answers on eth0, last seen 2026-12-04T10:00:00.000Z',
  ]);

  // It keeps answering: every packet moves lastSeen, but a refresh goes out only after 10 minutes of them.
  for (let i = 0; i < 5; i++) {
    advance(MIN);
    watch.reply(offer('10.0.0.2', '10.0.0.51'), '10.0.0.2', 'eth0', OWN);
    await reporter.check();
  }
  assert.equal(sent.length, 2);
  for (let i = 0; i < 5; i++) {
    advance(MIN);
    watch.reply(offer('10.0.0.2', '10.0.0.51'), '10.0.0.2', 'eth0', OWN);
    await reporter.check();
  }
  assert.equal(sent.length, 3, 'refreshed after 10 minutes');
  assert.equal(sent[2]!.dhcp!.conflicts[0]!.lastSeen, '2026-12-04T10:10:00.000Z');

  // A second server: reported at once.
  watch.reply(offer('10.0.0.3', '10.0.0.60'), '10.0.0.3', 'eth0', OWN);
  await reporter.check();
  assert.equal(sent.length, 4);
  assert.deepEqual(
    sent[3]!.dhcp!.conflicts.map((x) => x.serverId),
    ['10.0.0.2', '10.0.0.3'],
  );

  // Silence: 15 minutes on, both leave the report (one report, when they do), and it stays clear.
  advance(14 * MIN);
  await reporter.check();
  assert.equal(sent.length, 4);
  advance(2 * MIN);
  await reporter.check();
  assert.equal(sent.length, 5);
  assert.deepEqual(sent[4]!.dhcp, { mode: 'server', conflicts: [], moreConflicts: 0 });
  assert.deepEqual(agentStatusAlerts(sent[4]!), []);
  advance(30 * MIN);
  await reporter.check();
  assert.equal(sent.length, 5);
  reporter.stop();
  watch.stop();
});

test('proxy mode: the site server is no conflict, another ProxyDHCP server is; a missing server is reported, then cleared', async () => {
  const { watch, sent, reporter } = setup('proxy');
  watch.reply(offer('10.0.0.2', '10.0.0.50'), '10.0.0.2', 'eth0', OWN);
  await reporter.check();
  assert.deepEqual(sent.at(-1)!.dhcp, { mode: 'proxy', conflicts: [], moreConflicts: 0 });

  watch.reply(offer('10.0.0.7', '0.0.0.0'), '10.0.0.7', 'eth0', OWN);
  await reporter.check();
  assert.deepEqual(
    sent.at(-1)!.dhcp!.conflicts.map((c) => [c.serverId, c.givesAddresses]),
    [['10.0.0.7', false]],
  );
  assert.match(agentStatusAlerts(sent.at(-1)!)[0]!, /^another ProxyDHCP server: 10\.0\.0\.7 answers on eth0/);

  // A host's DISCOVER that nobody answers within the window: the expected server is missing.
  const before = sent.length;
  const discover = { ...offer('0.0.0.0', '0.0.0.0'), op: 1 } as DhcpPacket;
  watch.request(discover, MessageType.Discover, 'eth0', true, OWN);
  await new Promise((r) => setTimeout(r, 150));
  await reporter.check();
  assert.equal(sent.length, before + 1);
  const missing = sent.at(-1)!;
  assert.equal(missing.dhcp!.expectedServerMissingSince, '2026-12-04T10:00:00.000Z');
  assert.ok(
    agentStatusAlerts(missing).some((a) =>
      a.startsWith('expected DHCP server missing since 2026-12-04T10:00:00.000Z'),
    ),
  );

  // The server answers again: the report says so.
  watch.reply(offer('10.0.0.2', '10.0.0.51'), '10.0.0.2', 'eth0', OWN);
  await reporter.check();
  assert.equal(sent.length, before + 2);
  assert.equal(sent.at(-1)!.dhcp!.expectedServerMissingSince, undefined);
  reporter.stop();
  watch.stop();
});
