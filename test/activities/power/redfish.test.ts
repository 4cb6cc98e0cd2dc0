// The redfish driver against sushy-tools' emulator (fake driver, basic auth), and through a proxy that adds
// sessions, ETag/If-Match and TLS, or drops the boot override PATCH (a BMC that ignores it).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { cycleToNetwork } from '../../../activities/power/cycle-to-network.ts';
import type { BmcTarget } from '../../../activities/power/driver.ts';
import { BmcError } from '../../../activities/power/driver.ts';
import { RedfishDriver } from '../../../activities/power/redfish-driver.ts';
import { startRedfishProxy, startSushy } from '../../../testkit/redfish.ts';
import type { Sushy } from '../../../testkit/redfish.ts';

let sushy: Sushy;
before(async () => {
  sushy = await startSushy();
});
after(() => sushy?.stop());

const target = (
  address: string,
  credentials: BmcTarget['credentials'],
  options: Record<string, unknown> = {},
): BmcTarget => ({
  site: 's',
  host: 'h',
  mac: '52:54:00:aa:00:01',
  bmc: { driver: 'redfish', address, credentials: 'rf', options },
  ...(credentials !== undefined ? { credentials } : {}),
});

const rejectsWith = (p: Promise<unknown>, re: RegExp, retryable = false) =>
  assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof BmcError, String(e));
    assert.match(e.message, re);
    assert.equal(e.retryable, retryable, e.message);
    return true;
  });

test('boot override (Pxe, Hdd) set and read back by the driver, and seen by the emulator', async () => {
  const driver = new RedfishDriver();
  const t = target(sushy.url, { username: sushy.username, password: sushy.password });
  try {
    await driver.setBootDevice(t, 'network', { persistent: false });
    assert.deepEqual(await driver.getBootDevice(t), { device: 'network', persistent: true, raw: 'Pxe' });
    assert.equal((await sushy.system()).Boot.BootSourceOverrideTarget, 'Pxe');
    await driver.setBootDevice(t, 'disk', { persistent: true });
    assert.equal((await driver.getBootDevice(t)).raw, 'Hdd');
    assert.equal((await sushy.system()).Boot.BootSourceOverrideTarget, 'Hdd');
  } finally {
    await driver.release(t);
  }
});

test('cycle to network: ComputerSystem.Reset with an allowed ResetType, power read back until on', async () => {
  const proxy = await startRedfishProxy(sushy);
  const driver = new RedfishDriver();
  const t = target(proxy.url, { username: sushy.username, password: sushy.password });
  try {
    assert.equal(await driver.powerStatus(t), 'off');
    const steps: string[] = [];
    // The fake driver applies power changes 1-11 s later, as real BMCs do: the read-back polls.
    const detail = await cycleToNetwork(driver, t, { pollMs: 250, progress: (s) => steps.push(s) });
    assert.equal(detail, 'next boot Pxe (once), power turned on, now on');
    const sys = await sushy.system();
    assert.equal(sys.PowerState, 'On');
    assert.equal(sys.Boot.BootSourceOverrideTarget, 'Pxe');
    const resets = proxy.requests.filter(
      (r) => r.method === 'POST' && r.path.endsWith('/Actions/ComputerSystem.Reset'),
    );
    assert.deepEqual(
      resets.map((r) => JSON.parse(r.body) as unknown),
      [{ ResetType: 'On' }],
    );
    const patch = proxy.requests.find((r) => r.method === 'PATCH');
    assert.deepEqual(JSON.parse(patch!.body), {
      Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' },
    });
    // The service root (read unauthenticated) links no session service: basic auth for everything else.
    const authed = proxy.requests.filter((r) => r.path.replace(/\/$/, '') !== '/redfish/v1');
    assert.ok(
      authed.length > 0 && authed.every((r) => r.headers.authorization?.startsWith('Basic ')),
      'basic auth',
    );

    // Now on: a second cycle uses a restart, and the emulator reports the host back on.
    proxy.requests.length = 0;
    await cycleToNetwork(driver, t, { pollMs: 250 });
    const restart = proxy.requests.find((r) => r.method === 'POST');
    assert.deepEqual(JSON.parse(restart!.body), { ResetType: 'ForceRestart' });
    assert.equal((await sushy.system()).PowerState, 'On');
  } finally {
    await driver.release(t);
    await proxy.stop();
  }
});

test('a wrong password fails at once, not retryable, without the password in the message', async () => {
  const driver = new RedfishDriver();
  const wrong = 'wrong-password-123';
  await rejectsWith(
    driver.powerStatus(target(sushy.url, { username: sushy.username, password: wrong })),
    /basic login as admin refused — wrong username, password or token \(HTTP 401\)/,
  );
  await driver
    .powerStatus(target(sushy.url, { username: sushy.username, password: wrong }))
    .catch((e: Error) => assert.ok(!e.message.includes(wrong)));
});

test('a BMC that acknowledges the boot override but ignores it: detected after 3 attempts, never reset', async () => {
  const driver = new RedfishDriver();
  const direct = target(sushy.url, { username: sushy.username, password: sushy.password });
  await driver.setBootDevice(direct, 'disk', { persistent: false });
  const proxy = await startRedfishProxy(sushy, { dropBootPatch: true });
  const t = target(proxy.url, { username: sushy.username, password: sushy.password });
  try {
    await assert.rejects(cycleToNetwork(driver, t, { backoffMs: 20 }), (e: unknown) => {
      assert.ok(e instanceof BmcError && !e.retryable, String(e));
      assert.equal(e.message, 'boot override not applied: BMC reports Hdd after 3 attempts');
      return true;
    });
    assert.equal(proxy.requests.filter((r) => r.method === 'PATCH').length, 3);
    assert.equal(proxy.requests.filter((r) => r.method === 'POST').length, 0);
  } finally {
    await proxy.stop();
  }
});

test('sessions, ETag/If-Match and TLS: verified by default, trusted through ca_file or insecure_tls; session deleted on release', async () => {
  const creds = { username: 'operator', password: 'session-pw-9f3k' };
  const proxy = await startRedfishProxy(sushy, { sessions: creds, etag: true, tls: true });
  const dir = await mkdtemp(path.join(tmpdir(), 'vaq-rf-ca-'));
  const driver = new RedfishDriver();
  try {
    // A self-signed certificate is refused unless this BMC says otherwise.
    await rejectsWith(
      driver.powerStatus(target(proxy.url, creds)),
      /TLS certificate not trusted .*set ca_file, or insecure_tls: true/,
    );

    const ca = path.join(dir, 'bmc-ca.pem');
    await writeFile(ca, proxy.cert!);
    for (const options of [{ ca_file: ca }, { insecure_tls: true }]) {
      proxy.requests.length = 0;
      const t = target(proxy.url, creds, options);
      await driver.setBootDevice(t, 'network', { persistent: false });
      assert.equal((await driver.getBootDevice(t)).device, 'network');
      assert.equal(proxy.openSessions(), 1);
      await driver.release(t);
      assert.equal(proxy.openSessions(), 0, 'the session is deleted when the operation ends');

      const login = proxy.requests.filter(
        (r) => r.method === 'POST' && r.path === '/redfish/v1/SessionService/Sessions',
      );
      assert.equal(login.length, 1);
      const patch = proxy.requests.find((r) => r.method === 'PATCH')!;
      assert.match(String(patch.headers['if-match']), /^W\/"[0-9a-f]{16}"$/);
      assert.equal(typeof patch.headers['x-auth-token'], 'string');
      assert.equal(patch.headers.authorization, undefined);
      assert.ok(
        proxy.requests.some(
          (r) => r.method === 'DELETE' && r.path.startsWith('/redfish/v1/SessionService/Sessions/'),
        ),
      );
    }

    await rejectsWith(
      driver.powerStatus(target(proxy.url, { ...creds, password: 'nope-nope' }, { insecure_tls: true })),
      /session login as operator refused — wrong username or password \(HTTP 401\)/,
    );
  } finally {
    await proxy.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * In front of sushy, for the soft off: records every request, and either acknowledges a GracefulShutdown with
 * 204 without passing it on (an OS that ignores the ACPI request), or leaves GracefulShutdown out of the
 * system's ResetType@Redfish.AllowableValues (a BMC without it).
 */
async function startResetFilter(upstream: Sushy, mode: 'ignore-graceful' | 'no-graceful') {
  const requests: { method: string; path: string; body: string }[] = [];
  const server = http.createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks).toString('utf8');
      const method = req.method ?? 'GET';
      const p = req.url ?? '/';
      requests.push({ method, path: p, body });
      if (mode === 'ignore-graceful' && method === 'POST' && body.includes('GracefulShutdown')) {
        res.writeHead(204).end();
        return;
      }
      const r = await fetch(upstream.url + p, {
        method,
        headers: { 'Content-Type': 'application/json', Authorization: req.headers.authorization ?? '' },
        ...(method === 'GET' || method === 'DELETE' ? {} : { body }),
      });
      let text = await r.text();
      if (mode === 'no-graceful' && method === 'GET' && p.startsWith(upstream.systemPath)) {
        text = text.replace(/"GracefulShutdown",?/g, '');
      }
      res.writeHead(r.status, text ? { 'Content-Type': 'application/json' } : {}).end(text || undefined);
    })().catch((err: unknown) => res.writeHead(502).end(String(err)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    resets: () =>
      requests
        .filter((r) => r.method === 'POST' && r.path.endsWith('/Actions/ComputerSystem.Reset'))
        .map((r) => (JSON.parse(r.body) as { ResetType: string }).ResetType),
    stop: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test('soft off honoured: GracefulShutdown, the power read back off with no ForceOff, then On', async () => {
  const on = await startSushy({ powerState: 'On' });
  const proxy = await startRedfishProxy(on);
  const driver = new RedfishDriver();
  // sushy's fake driver applies a GracefulShutdown 1-11 s later; 60 s leaves it all the room it needs.
  const t = target(
    proxy.url,
    { username: on.username, password: on.password },
    {
      soft_reboot: true,
      soft_timeout_s: 60,
    },
  );
  try {
    const steps: string[] = [];
    const detail = await cycleToNetwork(driver, t, { pollMs: 250, progress: (s) => steps.push(s) });
    assert.match(detail, /^next boot Pxe \(once\), soft off took [\d.]+s, power turned on, now on$/);
    const resets = proxy.requests
      .filter((r) => r.method === 'POST' && r.path.endsWith('/Actions/ComputerSystem.Reset'))
      .map((r) => JSON.parse(r.body) as unknown);
    assert.deepEqual(resets, [{ ResetType: 'GracefulShutdown' }, { ResetType: 'On' }]);
    assert.ok(steps.includes('soft power off (ACPI shutdown)'), steps.join(', '));
    assert.equal((await on.system()).PowerState, 'On');
  } finally {
    await driver.release(t);
    await proxy.stop();
    await on.stop();
  }
});

test('soft off ignored: after soft_timeout_s a ForceOff, read back Off, then On', async () => {
  const on = await startSushy({ powerState: 'On' });
  const filter = await startResetFilter(on, 'ignore-graceful');
  const driver = new RedfishDriver();
  const t = target(
    filter.url,
    { username: on.username, password: on.password },
    {
      soft_reboot: true,
      soft_timeout_s: 2,
    },
  );
  try {
    const steps: string[] = [];
    const detail = await cycleToNetwork(driver, t, { pollMs: 250, progress: (s) => steps.push(s) });
    assert.equal(
      detail,
      'next boot Pxe (once), soft off timed out after 2s, forced off, power turned on, now on',
    );
    assert.deepEqual(filter.resets(), ['GracefulShutdown', 'ForceOff', 'On']);
    assert.ok(steps.includes('soft off timed out after 2s: forced power off (attempt 1)'), steps.join(', '));
    const sys = await on.system();
    assert.equal(sys.PowerState, 'On');
    assert.equal(sys.Boot.BootSourceOverrideTarget, 'Pxe');
  } finally {
    await driver.release(t);
    await filter.stop();
    await on.stop();
  }
});

test('a system whose ResetType@Redfish.AllowableValues lacks GracefulShutdown: no soft request, ForceOff, On', async () => {
  const on = await startSushy({ powerState: 'On' });
  const filter = await startResetFilter(on, 'no-graceful');
  const driver = new RedfishDriver();
  const t = target(filter.url, { username: on.username, password: on.password }, { soft_reboot: true });
  try {
    const detail = await cycleToNetwork(driver, t, { pollMs: 250 });
    assert.match(
      detail,
      /^next boot Pxe \(once\), soft off refused \(Redfish BMC http:\/\/127\.0\.0\.1:\d+ allows no ResetType for power soft off \(it allows On, ForceOff, GracefulRestart, ForceRestart, Nmi, ForceOn\)\), forced off, power turned on, now on$/,
    );
    assert.deepEqual(filter.resets(), ['ForceOff', 'On']);
    assert.equal((await on.system()).PowerState, 'On');
  } finally {
    await driver.release(t);
    await filter.stop();
    await on.stop();
  }
});
