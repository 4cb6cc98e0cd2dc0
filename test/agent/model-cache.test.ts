// The model cache: a late close of an older run keeps a newer run's gate; gates survive a restart; ignore_dhcp.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import path from 'node:path';
import { cacheDirectory } from '../../agent/boot-services.ts';
import { ModelCache } from '../../agent/model-cache.ts';
import { MAC, setup } from './http/support/agent-http.ts';

test("a late close from an older run does not shut a newer run's gate; the cache survives a restart", async (t) => {
  const s = await setup(t);
  await s.open('run-new');
  await s.cache.set({ ...s.cache.lookup(MAC)!, runId: 'run-old', open: false });
  assert.equal(s.cache.lookup(MAC)?.open, true);
  const again = new ModelCache(path.join(s.dir, 'cache'));
  const loaded = await again.load();
  assert.equal(loaded.gates, 1);
  assert.equal(again.netboot(MAC)?.runId, 'run-new');
  assert.equal(again.netboot(MAC)?.artifacts?.kernel, 'http://10.77.1.1:8080/assets/debian/linux');
});

test("the agent's DHCP directory refuses a MAC the site model marks ignore_dhcp, after a restart too", async (t) => {
  const s = await setup(t);
  const other = '52:54:00:77:01:03';
  await s.cache.setSiteModel({
    sot: 'lab',
    revision: 'r1',
    site: 'lab',
    httpUrl: 'http://10.77.1.1:8080',
    dhcpMode: 'server',
    subnets: [
      { id: 'lab', cidr: '10.77.1.0/24', netmask: '255.255.255.0', dns: [], ntp: [], dhcpOptions: [] },
    ],
    reservations: [{ host: 'node-03', mac: other, subnet: 'lab' }],
    ignoredMacs: [MAC.toUpperCase()],
  });
  const dir = cacheDirectory(s.cache);
  assert.equal(dir.ignored?.(MAC), true);
  assert.equal(dir.ignored?.(other), false);
  const again = new ModelCache(path.join(s.dir, 'cache'));
  await again.load();
  assert.equal(cacheDirectory(again).ignored?.(MAC), true);
  assert.equal(cacheDirectory(again).lookup(other)?.reservation.host, 'node-03');
});
