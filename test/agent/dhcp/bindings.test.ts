import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BindingTable } from '../../../agent/dhcp/bindings.ts';
import { createSiteDirectory } from '../../../agent/dhcp/directory.ts';
import { RateWindow } from '../../../agent/dhcp/rate-limit.ts';
import { netbootEntry, SUBNET } from './support/fixtures.ts';

describe('binding table', () => {
  it('maps both ways, replaces, expires and forgets', () => {
    let now = 1_000;
    const t = new BindingTable(10, () => now);
    t.set('aa:00:00:00:00:01', '10.77.1.10', 60, 'ack');
    assert.equal(t.macForIp('10.77.1.10'), 'aa:00:00:00:00:01');
    assert.equal(t.ipForMac('AA:00:00:00:00:01'), '10.77.1.10');
    t.set('aa:00:00:00:00:01', '10.77.1.11', 60, 'ack');
    assert.equal(t.macForIp('10.77.1.10'), undefined, 'the old address is released');
    t.set('aa:00:00:00:00:02', '10.77.1.11', 60, 'observed');
    assert.equal(t.ipForMac('aa:00:00:00:00:01'), undefined, 'an address has one owner');
    now += 61_000;
    assert.equal(t.macForIp('10.77.1.11'), undefined);
    assert.deepEqual(t.list(), []);
    t.set('aa:00:00:00:00:03', '10.77.1.12', 60, 'ack');
    t.remove('aa:00:00:00:00:03');
    assert.equal(t.macForIp('10.77.1.12'), undefined);
  });

  it('stays within its bound, oldest first out', () => {
    const t = new BindingTable(3);
    for (let i = 0; i < 5; i++) t.set(`aa:00:00:00:00:0${i}`, `10.0.0.${i}`, 60, 'ack');
    assert.deepEqual(
      t.list().map((b) => b.ip),
      ['10.0.0.2', '10.0.0.3', '10.0.0.4'],
    );
  });
});

describe('rate window', () => {
  it('caps the total and each key per second', () => {
    let now = 0;
    const w = new RateWindow(5, 2, () => now);
    assert.deepEqual(
      [w.admitKey('a'), w.admitKey('a'), w.admitKey('a'), w.admitKey('b')],
      [true, true, false, true],
    );
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map(() => w.admit()),
      [true, true, true, true, true, false],
    );
    now = 1000;
    assert.equal(w.admit(), true);
    assert.equal(w.admitKey('a'), true);
  });
});

describe('site directory', () => {
  it('finds reservations by MAC with their subnet and current gate', () => {
    let open = false;
    const dir = createSiteDirectory(
      {
        subnets: [SUBNET],
        reservations: [
          { host: 'n1', mac: '52:54:00:AA:00:01', ipv4: '10.77.1.10', subnet: 'lab' },
          { host: 'lost', mac: '52:54:00:aa:00:02', ipv4: '10.9.9.9', subnet: 'nowhere' },
        ],
      },
      (mac) => (mac === '52:54:00:aa:00:01' ? netbootEntry(mac, open) : undefined),
    );
    assert.equal(dir.lookup('52:54:00:aa:00:01')?.subnet, SUBNET);
    assert.equal(dir.lookup('52:54:00:aa:00:01')?.netboot?.open, false);
    open = true;
    assert.equal(dir.lookup('52:54:00:aa:00:01')?.netboot?.open, true, 'the gate is read on every lookup');
    assert.equal(dir.lookup('52:54:00:aa:00:02'), undefined, 'a reservation in an unserved subnet');
    assert.equal(dir.lookup('52:54:00:aa:00:03'), undefined);
  });
});
