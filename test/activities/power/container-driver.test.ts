// The container driver against podman's Docker API, with a BMC program written in sh in a busybox image:
// the protocol (BMC_ACTION in, `key: value` lines out), credentials through a file, exit codes.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ContainerDriver } from '../../../activities/power/container-driver.ts';
import { cycleToNetwork } from '../../../activities/power/cycle-to-network.ts';
import type { BmcTarget } from '../../../activities/power/driver.ts';
import { BmcError } from '../../../activities/power/driver.ts';
import { BUSYBOX_IMAGE, startPodman } from '../../../testkit/podman.ts';
import type { Podman } from '../../../testkit/podman.ts';

let podman: Podman;
let dir: string;
let driver: ContainerDriver;

const FAKE_BMC = `#!/bin/sh
# A BMC in sh: state in files under /bmc/state.
S=/bmc/state
case "$(cat "$BMC_CREDENTIALS_FILE")" in *'"password":"right-pw"'*) ;; *) echo "login refused" >&2; exit 2 ;; esac
echo "$BMC_ACTION" >> $S/actions
case "$BMC_ACTION" in
  status) echo "power: $(cat $S/power 2>/dev/null || echo off)" ;;
  on) echo on > $S/power ;;
  off) echo off > $S/power ;;
  cycle|reset) echo on > $S/power ;;
  bootdev-set) [ -f $S/deaf ] || echo "$BMC_BOOT_DEVICE" > $S/boot ;;
  bootdev-get) echo "boot: $(cat $S/boot 2>/dev/null || echo Hdd-legacy)"; echo "persistent: false" ;;
  *) echo "unknown action $BMC_ACTION" >&2; exit 2 ;;
esac
`;

before(async () => {
  podman = await startPodman();
  driver = new ContainerDriver(podman.docker);
  dir = await mkdtemp(path.join(tmpdir(), 'vaq-bmc-container-'));
  await writeFile(path.join(dir, 'bmc.sh'), FAKE_BMC);
  await chmod(path.join(dir, 'bmc.sh'), 0o755);
});
after(async () => {
  await podman?.stop();
  await rm(dir, { recursive: true, force: true });
});

const target = (password: string, extra: Record<string, unknown> = {}): BmcTarget => ({
  site: 'lab',
  host: 'node-7',
  mac: '52:54:00:00:00:07',
  bmc: {
    driver: 'container',
    address: '10.0.0.7',
    credentials: 'c',
    options: {
      image: BUSYBOX_IMAGE,
      command: ['/bin/sh', '/bmc/bmc.sh'],
      binds: [`${dir}:/bmc`],
      network_mode: 'none',
      ...extra,
    },
  },
  credentials: { username: 'admin', password },
});

const state = (name: string) =>
  readFile(path.join(dir, 'state', name), 'utf8').then(
    (s) => s.trim(),
    () => undefined,
  );

test('cycle to network through a BMC container: boot device read back, power on, every call its own container', async () => {
  await rm(path.join(dir, 'state'), { recursive: true, force: true });
  await mkdir(path.join(dir, 'state'));
  const detail = await cycleToNetwork(driver, target('right-pw'), { pollMs: 50 });
  assert.equal(detail, 'next boot network (once), power turned on, now on');
  assert.equal(await state('power'), 'on');
  assert.equal(await state('boot'), 'network');
  assert.deepEqual((await state('actions'))?.split('\n'), [
    'bootdev-set',
    'bootdev-get',
    'status',
    'on',
    'status',
  ]);
  const left = await podman.docker.listContainers({ all: true, filters: { label: ['vaquero.host=node-7'] } });
  assert.equal(left.length, 0, 'containers removed');
});

test('a BMC container that ignores the boot device is caught by the read-back', async () => {
  await writeFile(path.join(dir, 'state', 'deaf'), '');
  await writeFile(path.join(dir, 'state', 'boot'), 'disk');
  try {
    await assert.rejects(
      cycleToNetwork(driver, target('right-pw'), { backoffMs: 10 }),
      /^BmcError: boot override not applied: BMC reports disk after 3 attempts$/,
    );
  } finally {
    await rm(path.join(dir, 'state', 'deaf'));
  }
});

test("exit 2 is a permanent failure with the container's reason; the password is not in the message", async () => {
  await assert.rejects(driver.powerStatus(target('wrong-pw-123')), (e: unknown) => {
    assert.ok(e instanceof BmcError && !e.retryable, String(e));
    assert.equal(
      e.message,
      `BMC container ${BUSYBOX_IMAGE} for 10.0.0.7: status failed (exit 2): login refused`,
    );
    return true;
  });
});

test('a BMC container that hangs is killed at its timeout (retryable)', async () => {
  await assert.rejects(
    driver.powerStatus(target('right-pw', { command: ['/bin/sh', '-c', 'sleep 300'], timeout_s: 1 })),
    (e: unknown) => {
      assert.ok(e instanceof BmcError && e.retryable, String(e));
      assert.match(e.message, /status timed out after 1s \(killed\)$/);
      return true;
    },
  );
});
