// The served iPXE script's retry (sot/ipxe-script.ts withBootRetry) run by the real iPXE of the lab's VMs (ipxe-qemu
// 1.0.0+git-20190125: SeaBIOS with its PXE ROM, OVMF with its EFI ROM), not an agent: dnsmasq in the lab namespace
// answers DHCP with a script URL, and a small HTTP server serves the script as an agent would. For the first
// `failFirst` script fetches of a MAC, the script names a kernel that is not there (a 404, as a fetch from a dead
// agent fails); after that, the real one.
//   recovers  failFirst 3 (BIOS and UEFI): the script, three times DHCP again and chained, boots the tiny OS
//             on the third and last retry: the count goes on across the chained scripts, `imgfree` leaves no
//             stale image behind, and the booted command line is the script's, without the `|| goto`;
//   gives up  failFirst 99 (BIOS): four script fetches (the first and three retries), "giving up", and the
//             firmware finds nothing more to boot: no loop.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Daemon } from '../../lab/daemon.ts';
import { startDaemon, waitUntil } from '../../lab/daemon.ts';
import { cleanSerial } from '../../lab/machine.ts';
import type { Firmware } from '../../lab/qemu-vm.ts';
import { vmCommand } from '../../lab/qemu-vm.ts';
import { buildTinyInitrd, DI_KERNEL, TINY_MARKERS } from '../../lab/tiny-initrd.ts';
import type { LabNetwork } from '../../lab/topology.ts';
import { createLabNetwork, destroyLabNetwork, labNamespaces, requireLabRoot } from '../../lab/topology.ts';
import { buildIpxeScript, IPXE_BOOT_RETRIES, withBootRetry } from '../../sot/ipxe-script.ts';

requireLabRoot();

const NAME = `vqr${process.pid % 100000}`;
const P = '10.77.59';
const PORT = 8080;
const BASE = `http://${P}.1:${PORT}`;
const VMS = [
  { name: 'bios-recovers', firmware: 'bios', mac: '52:54:00:77:59:0a', failFirst: 3 },
  { name: 'uefi-recovers', firmware: 'uefi', mac: '52:54:00:77:59:0b', failFirst: 3 },
  { name: 'bios-gives-up', firmware: 'bios', mac: '52:54:00:77:59:0c', failFirst: 99 },
] as const satisfies readonly { name: string; firmware: Firmware; mac: string; failFirst: number }[];

/** The script for `mac`, as withBootRetry makes it; `kernel` is the file its kernel line names. */
function script(mac: string, kernel: string): string {
  return withBootRetry(
    buildIpxeScript({
      host: mac,
      stageIndex: 1,
      boot: 'retry-test',
      kernel: `${BASE}/assets/${kernel}`,
      initrds: [`${BASE}/assets/tiny-initrd.gz`],
      cmdline: `console=ttyS0 panic=-1 callback=${BASE}/checkpoint/${mac.replace(/:/g, '')}`,
    }),
  );
}

// The HTTP server, run by node inside the namespace: scripts from files, assets, the callback; one log line per
// request (epoch ms, method, URL, status).
const SERVER = `
const http = require('http'), fs = require('fs'), path = require('path');
const [dir, host, port] = process.argv.slice(1);
const spec = JSON.parse(fs.readFileSync(path.join(dir, 'spec.json'), 'utf8'));
const fetched = {};
http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  let status = 200, body;
  if (u.pathname === '/ipxe') {
    const mac = u.searchParams.get('mac');
    fetched[mac] = (fetched[mac] || 0) + 1;
    body = fs.readFileSync(path.join(dir, mac.replace(/:/g, '') + (fetched[mac] <= spec[mac] ? '.bad' : '.good')));
  } else if (u.pathname === '/assets/linux' || u.pathname === '/assets/tiny-initrd.gz') {
    body = fs.readFileSync(path.join(dir, path.basename(u.pathname)));
  } else if (u.pathname.startsWith('/checkpoint/')) body = 'ok\\n';
  else { status = 404; body = 'no\\n'; }
  fs.appendFileSync(path.join(dir, 'http.log'), Date.now() + ' ' + req.method + ' ' + req.url + ' ' + status + '\\n');
  res.writeHead(status, { 'content-length': body.length });
  res.end(body);
}).listen(Number(port), host, () => console.log('listening'));
`;

function dnsmasqConfig(net: LabNetwork, dir: string): string {
  return [
    'port=0',
    `interface=${net.bridge}`,
    'bind-interfaces',
    'no-ping',
    `dhcp-range=${P}.10,${P}.50,255.255.255.0,10m`,
    `dhcp-leasefile=${path.join(dir, 'leases')}`,
    'dhcp-authoritative',
    'dhcp-match=set:ipxe,175',
    // iPXE expands ${mac} in the file name it is given.
    `dhcp-boot=tag:ipxe,${BASE}/ipxe?mac=\${mac}`,
    'dhcp-option=tag:ipxe,encap:175,176,1b',
    'enable-ra',
    `dhcp-range=::,constructor:${net.bridge},ra-stateless`,
    'log-dhcp',
    `log-facility=${path.join(dir, 'dnsmasq.log')}`,
    `pid-file=${path.join(dir, 'dnsmasq.pid')}`,
    'user=root',
    '',
  ].join('\n');
}

interface Log {
  at: number;
  method: string;
  url: string;
  status: number;
}

describe(
  'lab: the served iPXE script goes back to DHCP after a failed fetch, bounded (real iPXE)',
  { timeout: 420_000 },
  () => {
    let dir: string;
    let net: LabNetwork | undefined;
    const daemons: Daemon[] = [];
    const serial: Record<string, string> = {};
    let log: Log[] = [];

    const requests = (mac: string, p: string) =>
      log.filter((l) => l.url.startsWith(p) && (p !== '/ipxe' || decodeURIComponent(l.url).includes(mac)));

    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'vq-ipxe-retry-'));
      const files = path.join(dir, 'www');
      await mkdir(files, { recursive: true });
      await writeFile(path.join(files, 'linux'), await readFile(DI_KERNEL));
      await writeFile(path.join(files, 'tiny-initrd.gz'), await readFile((await buildTinyInitrd()).path));
      for (const vm of VMS) {
        const base = path.join(files, vm.mac.replace(/:/g, ''));
        await writeFile(`${base}.bad`, script(vm.mac, 'not-there'));
        await writeFile(`${base}.good`, script(vm.mac, 'linux'));
      }
      await writeFile(
        path.join(files, 'spec.json'),
        JSON.stringify(Object.fromEntries(VMS.map((v) => [v.mac, v.failFirst]))),
      );
      destroyLabNetwork(NAME);
      net = createLabNetwork({ name: NAME, prefix: P, taps: VMS.length });
      const http = await startDaemon(
        'http',
        process.execPath,
        ['-e', SERVER, files, `${P}.1`, String(PORT)],
        {
          ns: net.ns,
          pidDir: path.join(dir, 'pids'),
        },
      );
      daemons.push(http);
      await waitUntil(http, 'the HTTP server', () => http.output().includes('listening'));
      await writeFile(path.join(dir, 'dnsmasq.conf'), dnsmasqConfig(net, dir));
      const dnsmasq = await startDaemon(
        'dnsmasq',
        'dnsmasq',
        ['--keep-in-foreground', `--conf-file=${path.join(dir, 'dnsmasq.conf')}`],
        { ns: net.ns, pidDir: path.join(dir, 'pids') },
      );
      daemons.push(dnsmasq);
      await waitUntil(dnsmasq, 'dnsmasq', async () =>
        (await readFile(path.join(dir, 'dnsmasq.log'), 'utf8').catch(() => '')).includes('started'),
      );
      const vms: Daemon[] = [];
      for (const [i, vm] of VMS.entries()) {
        const serialLog = path.join(dir, `${vm.name}.serial`);
        const [cmd, ...args] = vmCommand({
          firmware: vm.firmware,
          tap: net.taps[i]!,
          mac: vm.mac,
          serialLog,
          timeoutS: 300,
        });
        const d = await startDaemon(`qemu-${vm.name}`, cmd!, args, {
          ns: net.ns,
          pidDir: path.join(dir, 'pids'),
        });
        daemons.push(d);
        vms.push(d);
      }
      // Each VM ends its boot: the tiny OS powers off (QEMU exits: -no-reboot), or nothing boots any more.
      const done = async (vm: (typeof VMS)[number]): Promise<boolean> => {
        const text = cleanSerial(await readFile(path.join(dir, `${vm.name}.serial`), 'utf8').catch(() => ''));
        serial[vm.name] = text;
        return (
          text.includes(TINY_MARKERS.callbackOk) ||
          /No bootable device|No more network devices|BdsDxe: failed to load Boot/.test(
            text.slice(text.indexOf('giving up')),
          )
        );
      };
      await waitUntil(
        undefined,
        'every VM done',
        async () => (await Promise.all(VMS.map(done))).every(Boolean),
        360_000,
      );
      // A few seconds more: a script that still looped would fetch again.
      await new Promise((r) => setTimeout(r, 8_000));
      for (const vm of VMS) await done(vm);
      for (const d of vms) await d.stop();
      log = (await readFile(path.join(files, 'http.log'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const [at, method, url, status] = l.split(' ');
          return { at: Number(at), method: method!, url: url!, status: Number(status) };
        });
    });

    after(async () => {
      for (const d of daemons.reverse()) await d.stop().catch(() => undefined);
      if (net) destroyLabNetwork(net.name);
      assert.deepEqual(labNamespaces(NAME), []);
      if (process.env.VAQUERO_LAB_KEEP !== '1') await rm(dir, { recursive: true, force: true });
    });

    for (const vm of VMS.filter((v) => v.failFirst <= IPXE_BOOT_RETRIES)) {
      it(`${vm.name}: three failed kernel fetches, DHCP and a chained script after each, then it boots`, (t) => {
        const s = serial[vm.name]!;
        t.diagnostic(s.slice(-2500).replace(/\n/g, ' / '));
        assert.equal(requests(vm.mac, '/ipxe').length, 1 + vm.failFirst, JSON.stringify(log));
        assert.ok(s.includes(TINY_MARKERS.callbackOk), s);
        for (let i = 1; i <= vm.failFirst; i++)
          assert.ok(s.includes(`DHCP again and chain the answer (retry ${i} of ${IPXE_BOOT_RETRIES})`), s);
        assert.ok(!s.includes('giving up'), s);
        const cb = log.filter((l) => l.url.startsWith(`/checkpoint/${vm.mac.replace(/:/g, '')}?`));
        assert.equal(cb.length, 1);
        // The command line the kernel got is the script's, without the jump after it.
        const booted = decodeURIComponent(new URL(cb[0]!.url, BASE).searchParams.get('cmdline') ?? '');
        assert.match(booted, /console=ttyS0 panic=-1 callback=\S+$/);
        assert.ok(!booted.includes('goto'), booted);
      });
    }

    it('bios-gives-up: the first script and three retries, then it gives up and the firmware boots nothing', (t) => {
      const vm = VMS[2];
      const s = serial[vm.name]!;
      t.diagnostic(s.slice(-2500).replace(/\n/g, ' / '));
      assert.equal(requests(vm.mac, '/ipxe').length, 1 + IPXE_BOOT_RETRIES, JSON.stringify(log));
      assert.equal(s.match(/giving up/g)?.length, 1, s);
      assert.ok(!s.includes('Linux version'), s);
      assert.match(s.slice(s.indexOf('giving up')), /No bootable device|No more network devices/);
    });

    it('the kernel and initrd went out once per boot: nothing fetched twice after the retries', () => {
      const ok = (p: string) => log.filter((l) => l.url === p && l.status === 200).length;
      assert.equal(ok('/assets/linux'), 2);
      assert.equal(ok('/assets/tiny-initrd.gz'), 2);
      assert.equal(log.filter((l) => l.url === '/assets/not-there').length, 2 * 3 + 1 + IPXE_BOOT_RETRIES);
    });
  },
);
