// Real TFTP clients (LAB.md §2) against the agent's server across a veth pair: atftp with options (the OACK
// asserted from its trace), curl with and without options, tftp-hpa in octet and netascii mode, a 40 MB file
// whose block counter rolls over, and 20 concurrent transfers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, sha256, sha256File, writeSeeded } from './support/lab.ts';
import type { TftpLab } from './support/lab.ts';

/** Parses atftp's `received OACK <tsize: 300000, windowsize: 4, blksize: 1468, >` trace line. */
function atftpOack(output: string): Record<string, string> {
  const line = output.split('\n').find((l) => l.startsWith('received OACK'));
  assert.ok(line, `no OACK in atftp output:\n${output.slice(0, 2000)}`);
  const body = line.slice(line.indexOf('<') + 1, line.lastIndexOf('>'));
  const out: Record<string, string> = {};
  for (const part of body.split(',')) {
    const [k, v] = part.split(':').map((s) => s.trim());
    if (k && v !== undefined) out[k] = v;
  }
  return out;
}

describe('TFTP with real clients', { timeout: 120_000 }, () => {
  let lab: TftpLab;
  const sums: Record<string, string> = {};

  before(async () => {
    lab = await createLab('10.77.41');
    sums['small.bin'] = writeSeeded(join(lab.root, 'small.bin'), 300_000, 1);
    sums['exact.bin'] = writeSeeded(join(lab.root, 'exact.bin'), 512 * 4, 2); // ends with an empty DATA block
    sums['one.bin'] = writeSeeded(join(lab.root, 'one.bin'), 1, 3);
    sums['big.bin'] = writeSeeded(join(lab.root, 'big.bin'), 40 * 1024 * 1024, 4);
    sums['mid.bin'] = writeSeeded(join(lab.root, 'mid.bin'), 1024 * 1024 + 17, 5);
    writeFileSync(join(lab.root, 'empty.bin'), '');
    writeFileSync(join(lab.root, 'boot.txt'), '#!ipxe\r\nline two\nbare\rcr\n');
    symlinkSync('small.bin', join(lab.root, 'alias.bin')); // a symlink inside the root is fine
    await lab.startServer({
      maxWindowsize: 16,
      virtual: { 'host.ipxe': '#!ipxe\nchain http://10.77.41.1/x\n' },
    });
  });
  after(async () => {
    await lab?.close();
  });

  it('atftp negotiates blksize, tsize and windowsize (OACK asserted)', async () => {
    const out = join(lab.out, 'atftp-small');
    const r = await lab.client('atftp', [
      '--option',
      'blksize 1468',
      '--option',
      'tsize 0',
      '--option',
      'windowsize 4',
      '--trace',
      '--verbose',
      '-g',
      '-r',
      'small.bin',
      '-l',
      out,
      lab.serverIp,
      '69',
    ]);
    const text = r.stdout + r.stderr;
    assert.equal(r.code, 0, text.slice(0, 2000));
    assert.deepEqual(atftpOack(text), { tsize: '300000', windowsize: '4', blksize: '1468' });
    assert.match(text, /received \d+\. DATA <block: 205, size 528>/); // 204 full blocks of 1468, then 528 bytes
    assert.equal(await sha256File(out), sums['small.bin']);
  });

  it('atftp: blksize above the MTU is lowered to 1468, windowsize above the maximum to 16', async () => {
    const out = join(lab.out, 'atftp-cap');
    const r = await lab.client('atftp', [
      '--option',
      'blksize 8192',
      '--option',
      'windowsize 64',
      '--trace',
      '--verbose',
      '-g',
      '-r',
      'mid.bin',
      '-l',
      out,
      lab.serverIp,
      '69',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(atftpOack(r.stdout + r.stderr), { blksize: '1468', windowsize: '16' });
    assert.equal(await sha256File(out), sums['mid.bin']);
  });

  for (const [label, args] of [
    ['default options', []],
    ['--tftp-blksize 1468', ['--tftp-blksize', '1468']],
    ['--tftp-no-options', ['--tftp-no-options']],
  ] as const) {
    it(`curl ${label}`, async () => {
      for (const name of ['small.bin', 'exact.bin', 'one.bin', 'alias.bin']) {
        const out = join(lab.out, `curl-${args.length}-${name}`);
        const r = await lab.client('curl', ['-sS', ...args, '-o', out, `tftp://${lab.serverIp}/${name}`]);
        assert.equal(r.code, 0, `${name}: ${r.stderr}`);
        assert.equal(await sha256File(out), sums[name === 'alias.bin' ? 'small.bin' : name], name);
      }
    });
  }

  it('curl fetches an empty file (no "tsize 0" in the OACK, which curl rejects)', async () => {
    const out = join(lab.out, 'curl-empty');
    const r = await lab.client('curl', ['-sS', '-o', out, `tftp://${lab.serverIp}/empty.bin`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256File(out), sha256(Buffer.alloc(0)));
  });

  it('tftp-hpa -m octet (no options at all)', async () => {
    const out = join(lab.out, 'hpa-small');
    const r = await lab.client('tftp', ['-m', 'octet', lab.serverIp, '-c', 'get', 'small.bin', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256File(out), sums['small.bin']);
  });

  it('tftp-hpa default netascii mode: text and binary files survive the round trip', async () => {
    for (const name of ['boot.txt', 'small.bin']) {
      const out = join(lab.out, `hpa-ascii-${name}`);
      const r = await lab.client('tftp', [lab.serverIp, '-c', 'get', name, out]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await sha256File(out), await sha256File(join(lab.root, name)), name);
    }
  });

  it('a virtual file from the resolve hook', async () => {
    const out = join(lab.out, 'virtual');
    const r = await lab.client('curl', ['-sS', '-o', out, `tftp://${lab.serverIp}/host.ipxe`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256File(out), sha256(Buffer.from('#!ipxe\nchain http://10.77.41.1/x\n')));
  });

  it('40 MB at 512-byte blocks (counter rolls over past 65535) through curl, atftp (windowsize 8) and tftp-hpa', async (t) => {
    const runs: Array<[string, string, string[]]> = [
      ['curl', 'curl', ['-sS', '-o', join(lab.out, 'big-curl'), `tftp://${lab.serverIp}/big.bin`]],
      [
        'curl blksize 1468',
        'curl',
        [
          '-sS',
          '--tftp-blksize',
          '1468',
          '-o',
          join(lab.out, 'big-curl-1468'),
          `tftp://${lab.serverIp}/big.bin`,
        ],
      ],
      [
        'atftp',
        'atftp',
        [
          '--option',
          'windowsize 8',
          '-g',
          '-r',
          'big.bin',
          '-l',
          join(lab.out, 'big-atftp'),
          lab.serverIp,
          '69',
        ],
      ],
      ['tftp-hpa', 'tftp', ['-m', 'octet', lab.serverIp, '-c', 'get', 'big.bin', join(lab.out, 'big-hpa')]],
    ];
    const outs = ['big-curl', 'big-curl-1468', 'big-atftp', 'big-hpa'];
    for (const [i, [label, cmd, args]] of runs.entries()) {
      const t0 = performance.now();
      const r = await lab.client(cmd, args, 60_000);
      const s = (performance.now() - t0) / 1000;
      assert.equal(r.code, 0, `${label}: ${r.stderr}`);
      assert.equal(await sha256File(join(lab.out, outs[i] as string)), sums['big.bin'], label);
      t.diagnostic(`${label}: 40 MiB in ${s.toFixed(2)} s (${(40 / s).toFixed(1)} MiB/s)`);
    }
  });

  it('20 concurrent curl transfers all arrive intact', async () => {
    const names = ['mid.bin', 'small.bin'];
    const runs = Array.from({ length: 20 }, (_, i) => {
      const name = names[i % 2] as string;
      const out = join(lab.out, `conc-${i}`);
      const args = i % 4 < 2 ? ['--tftp-blksize', '1468'] : [];
      return lab
        .client('curl', ['-sS', ...args, '-o', out, `tftp://${lab.serverIp}/${name}`])
        .then(async (r) => {
          assert.equal(r.code, 0, `transfer ${i}: ${r.stderr}`);
          assert.equal(await sha256File(out), sums[name], `transfer ${i}`);
        });
    });
    await Promise.all(runs);
  });

  it('reports events and stats', async () => {
    const stats = await lab.stats();
    assert.equal(stats.active, 0);
    assert.equal(stats.errors, 0);
    assert.ok(stats.transfers >= 40, JSON.stringify(stats));
    assert.ok(stats.bytes > 4 * 40 * 1024 * 1024, JSON.stringify(stats));
    const done = lab.events.filter((e) => e.kind === 'complete' && e.file === 'small.bin');
    assert.ok(done.length > 0);
    assert.ok(done.every((e) => e.peer.address === '10.77.41.2'));
    // Octet transfers report the file size; the netascii one reports the converted (longer) size.
    assert.ok(done.some((e) => e.bytes === 300_000));
    assert.ok(done.every((e) => (e.bytes ?? 0) >= 300_000));
    const starts = lab.events.filter((e) => e.kind === 'start').length;
    assert.equal(starts, lab.events.filter((e) => e.kind === 'complete').length);
  });
  it("serves Debian's ipxe package root with default options (ipxe.efi is a symlink to /boot/ipxe.efi)", async () => {
    await lab.startServer({ root: '/usr/lib/ipxe' }); // last test: replaces the server above
    const files = [
      ['undionly.kpxe', '/usr/lib/ipxe/undionly.kpxe'],
      ['ipxe.efi', '/boot/ipxe.efi'],
      ['snponly.efi', '/usr/lib/ipxe/snponly.efi'],
      ['virtio-net.rom', '/usr/lib/ipxe/qemu/pxe-virtio.rom'], // a link that stays inside the root
    ] as const;
    for (const [name, real] of files) {
      const out = join(lab.out, `debian-${name}`);
      const r = await lab.client('curl', [
        '-sS',
        '--tftp-blksize',
        '1468',
        '-o',
        out,
        `tftp://${lab.serverIp}/${name}`,
      ]);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.equal(await sha256File(out), await sha256File(real), name);
    }
  });
});
