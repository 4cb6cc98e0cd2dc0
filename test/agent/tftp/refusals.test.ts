// Everything the server must refuse, with the TFTP error a client sees: traversal by "..", absolute paths,
// backslashes, symlinks out of the root, NUL and control characters in names, writes, odd modes, missing
// files, non-regular files, and resolve-hook paths that leave the root.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLab, sha256File, writeSeeded } from './support/lab.ts';
import type { RawUdp, TftpLab } from './support/lab.ts';
import { firstReply, rrq } from './support/raw-tftp.ts';

describe('TFTP refusals', { timeout: 60_000 }, () => {
  let lab: TftpLab;
  let udp: RawUdp;
  let okSum: string;

  before(async () => {
    lab = await createLab('10.77.42');
    okSum = writeSeeded(join(lab.root, 'ok.bin'), 5000, 7);
    mkdirSync(join(lab.root, 'sub'));
    writeSeeded(join(lab.root, 'sub', 'file.bin'), 100, 8);
    writeSeeded(join(lab.root, 'big-text.txt'), 5 * 1024 * 1024, 9);
    symlinkSync('/etc/passwd', join(lab.root, 'escape'));
    writeSeeded(join(lab.out, 'trusted.bin'), 3000, 10);
    writeSeeded(join(lab.out, 'untrusted.bin'), 3000, 11);
    symlinkSync(join(lab.out, 'trusted.bin'), join(lab.root, 'to-trusted'));
    symlinkSync(join(lab.out, 'untrusted.bin'), join(lab.root, 'to-untrusted'));
    symlinkSync('/etc', join(lab.root, 'outdir'));
    symlinkSync('../../../../../../etc/passwd', join(lab.root, 'sub', 'relescape'));
    symlinkSync('loop2', join(lab.root, 'loop1'));
    symlinkSync('loop1', join(lab.root, 'loop2'));
    execFileSync('mkfifo', [join(lab.root, 'fifo')]);
    writeFileSync(join(lab.out, 'upload.bin'), 'x');
    await lab.startServer({
      trustedLinkTargets: [join(lab.out, 'trusted.bin')],
      redirect: { evil: '/etc/passwd', 'evil-rel': '../../etc/passwd', good: 'sub/file.bin' },
    });
    udp = await lab.udp();
  });
  after(async () => {
    await lab?.close();
  });

  const cases: Array<[string, string | Buffer, number]> = [
    ['../etc/passwd', '../etc/passwd', 2],
    ['a/../../x', 'a/../../x', 2],
    ['..\\..\\etc\\passwd (backslashes are separators)', '..\\..\\etc\\passwd', 2],
    ['/etc/passwd (leading slash stripped: root/etc/passwd does not exist)', '/etc/passwd', 1],
    ['a symlink to /etc/passwd', 'escape', 2],
    ['a file under a symlink to /etc', 'outdir/passwd', 2],
    ['a relative symlink climbing out', 'sub/relescape', 2],
    ['a symlink loop', 'loop1', 2],
    ['a symlink to an untrusted file beside a trusted one', 'to-untrusted', 2],
    ['a directory', 'sub', 2],
    ['a FIFO (must not block)', 'fifo', 2],
    ['a control character', 'ok\x01.bin', 2],
    ['invalid UTF-8', Buffer.from([0x6f, 0xff, 0xfe]), 2],
    ['a missing file', 'missing.bin', 1],
    ['an empty name', '', 1],
    ['resolve hook path outside the root (absolute)', 'evil', 2],
    ['resolve hook path outside the root (relative)', 'evil-rel', 2],
  ];
  for (const [label, name, code] of cases) {
    it(`refuses ${label} with ERROR ${code} from a new TID`, async () => {
      const r = await firstReply(udp, rrq(name));
      assert.ok(r, 'no reply');
      assert.equal(r.op, 5, `expected ERROR, got ${JSON.stringify(r)}`);
      assert.equal(r.code, code, r.message);
      assert.notEqual(r.port, 69);
    });
  }

  it('a NUL ends the name: what follows becomes the mode, and either part being bad refuses the request', async () => {
    const r = await firstReply(udp, rrq(Buffer.from('ok.bin\0../../etc/passwd')));
    assert.equal(r?.op, 5);
    assert.equal(r?.code, 4);
    const r2 = await firstReply(udp, rrq(Buffer.from('../../etc/passwd\0ok.bin')));
    assert.equal(r2?.op, 5);
    assert.equal(r2?.code, 2); // the name is checked before the mode
  });

  it('refuses write requests with ERROR 2, and mail or unknown modes with ERROR 4', async () => {
    assert.equal((await firstReply(udp, rrq('new.bin', 'octet', {}, 2)))?.code, 2);
    assert.equal((await firstReply(udp, rrq('ok.bin', 'mail')))?.code, 4);
    assert.equal((await firstReply(udp, rrq('ok.bin', 'binary')))?.code, 4);
  });

  it('curl: traversal and symlink escape exit 69 (TFTP access violation), a missing file exits 68', async () => {
    const base = `tftp://${lab.serverIp}`;
    for (const path of ['../etc/passwd', 'escape', 'outdir/passwd']) {
      const r = await lab.client('curl', [
        '-sS',
        '--path-as-is',
        '-o',
        join(lab.out, 'x'),
        `${base}/${path}`,
      ]);
      assert.equal(r.code, 69, `${path}: ${r.stderr}`);
    }
    const missing = await lab.client('curl', ['-sS', '-o', join(lab.out, 'x'), `${base}/missing.bin`]);
    assert.equal(missing.code, 68, missing.stderr);
    const upload = await lab.client('curl', ['-sS', '-T', join(lab.out, 'upload.bin'), `${base}/upload.bin`]);
    assert.equal(upload.code, 69, upload.stderr);
  });

  it('netascii for a file above the cap is refused with a message pointing to octet mode', async () => {
    const r = await lab.client('tftp', [
      lab.serverIp,
      '-c',
      'get',
      'big-text.txt',
      join(lab.out, 'big-text'),
    ]);
    assert.match(r.stdout + r.stderr, /octet/);
  });

  it('still serves good files, including one the resolve hook maps inside the root', async () => {
    const out = join(lab.out, 'ok');
    const r = await lab.client('curl', ['-sS', '-o', out, `tftp://${lab.serverIp}/ok.bin`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256File(out), okSum);
    const good = await lab.client('curl', [
      '-sS',
      '-o',
      join(lab.out, 'good'),
      `tftp://${lab.serverIp}/good`,
    ]);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(
      await sha256File(join(lab.out, 'good')),
      await sha256File(join(lab.root, 'sub', 'file.bin')),
    );
    const trusted = await lab.client('curl', [
      '-sS',
      '-o',
      join(lab.out, 'via-link'),
      `tftp://${lab.serverIp}/to-trusted`,
    ]);
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.equal(await sha256File(join(lab.out, 'via-link')), await sha256File(join(lab.out, 'trusted.bin')));
    const stats = await lab.stats();
    assert.ok(stats.refused >= cases.length, JSON.stringify(stats));
    assert.equal(stats.active, 0);
  });
});
