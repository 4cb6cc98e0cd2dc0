import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BindingTable } from '../../../agent/dhcp/bindings.ts';
import { createSiteDirectory } from '../../../agent/dhcp/directory.ts';
import { PacketAdmission } from '../../../agent/dhcp/rate-limit.ts';
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

describe('packet admission', () => {
  it('caps each key per one-second window', () => {
    let now = 0;
    const w = new PacketAdmission(5, 2, () => now);
    assert.deepEqual(
      [w.admitKey('a'), w.admitKey('a'), w.admitKey('a'), w.admitKey('b')],
      [true, true, false, true],
    );
    now = 999;
    assert.equal(w.admitKey('a'), false);
    now = 1000;
    assert.equal(w.admitKey('a'), true);
  });

  it("admits a burst of one second's budget, then refills at the cap instead of waiting for a new second", () => {
    let now = 0;
    const w = new PacketAdmission(1000, 20, () => now);
    const admitted = (n: number): number => Array.from({ length: n }, () => w.admit()).filter(Boolean).length;
    assert.equal(admitted(1200), 1000, 'a burst is capped at one second of budget');
    now = 100;
    assert.equal(admitted(200), 100, '100 ms later, 100 packets of budget are back');
    now = 150;
    assert.equal(admitted(10), 10, 'a steady trickle after a burst is not refused');
    now = 10_000;
    assert.equal(admitted(1500), 1000, 'an idle agent saves no more than one second of budget');
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
