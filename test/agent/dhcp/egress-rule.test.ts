// The unicast rule (agent/dhcp/egress.ts) case by case.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unicastAllowed } from '../../../agent/dhcp/egress.ts';

const SUBNET = '10.77.1.0/24';
const direct = { giaddr: '0.0.0.0', source: '10.77.1.10' };

test('a client address: inside the subnet, not its network or broadcast address', () => {
  const rows: [string, boolean][] = [
    ['10.77.1.10', true],
    ['10.77.1.254', true],
    ['10.77.1.0', false],
    ['10.77.1.255', false],
    ['10.77.2.10', false],
    ['127.0.0.1', false],
    ['224.0.0.251', false],
    ['255.255.255.255', false],
    ['0.0.0.0', false],
    ['not an address', false],
  ];
  for (const [to, want] of rows) assert.equal(unicastAllowed(to, direct, SUBNET), want, to);
});

test('a relay: any unicast address, loopback only when the request came over loopback', () => {
  const relayed = (giaddr: string, source: string) => ({ giaddr, source });
  assert.equal(unicastAllowed('10.20.0.1', relayed('10.20.0.1', '10.20.0.1'), SUBNET), true);
  assert.equal(unicastAllowed('224.0.0.9', relayed('224.0.0.9', '10.20.0.1'), SUBNET), false);
  assert.equal(unicastAllowed('240.0.0.1', relayed('240.0.0.1', '10.20.0.1'), SUBNET), false);
  assert.equal(unicastAllowed('127.0.0.1', relayed('127.0.0.1', '127.0.0.1'), SUBNET), true);
  assert.equal(unicastAllowed('127.0.0.1', relayed('127.0.0.1', '10.20.0.1'), SUBNET), false);
});
