// Loss and abuse: a client that drops an ACK still completes, duplicate ACKs cause no resend (sorcerer's
// apprentice), an early ACK in a window is a restart point, lost OACKs are resent, dead clients are given up
// on, and a corpus of malformed packets (to port 69 and to a live transfer) neither crashes the server nor
// stops it from serving real clients. Also: the transfer limit and shutdown.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createLab, seededBytes, sha256, sha256File, writeSeeded } from './support/lab.ts';
import type { RawUdp, TftpLab } from './support/lab.ts';
import { ack, decode, rrq } from './support/raw-tftp.ts';
import type { Decoded } from './support/raw-tftp.ts';

const TIMEOUT_MS = 300;
const RETRIES = 3;

describe('TFTP under loss and abuse', { timeout: 90_000 }, () => {
  let lab: TftpLab;
  let udp: RawUdp;
  const small = seededBytes(512 * 2 + 100, 11); // three blocks at 512
  const ten = seededBytes(512 * 10 + 7, 12); // eleven blocks at 512
  let midSum: string;

  before(async () => {
    lab = await createLab('10.77.43');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(lab.root, 'small.bin'), small);
    writeFileSync(join(lab.root, 'ten.bin'), ten);
    midSum = writeSeeded(join(lab.root, 'mid.bin'), 2 * 1024 * 1024 + 3, 13);
    await lab.startServer({ timeoutMs: TIMEOUT_MS, retries: RETRIES });
    udp = await lab.udp();
  });
  after(async () => {
    await lab?.close();
  });

  /** Next packet on `sock` from the transfer's port, decoded. */
  async function next(sock: number, ms = 2000): Promise<Decoded & { port: number }> {
    const d = await udp.recv(sock, ms);
    assert.ok(d, 'no packet from the server');
    return { ...decode(d), port: d.port };
  }

  it('a client that drops the first ACK gets DATA 1 again and completes', async () => {
    const sock = await udp.open();
    await udp.send(sock, rrq('small.bin'));
    const first = await next(sock);
    assert.equal(first.block, 1);
    const t0 = Date.now();
    const again = await next(sock, 3 * TIMEOUT_MS); // our ACK is "lost": the server must resend
    assert.equal(again.block, 1);
    assert.equal(again.port, first.port);
    assert.ok(Date.now() - t0 >= TIMEOUT_MS * 0.8);
    const got: Buffer[] = [again.payload as Buffer];
    for (let b = 1; b <= 3; b++) {
      await udp.send(sock, ack(b), first.port);
      if (b === 3) break;
      const d = await next(sock);
      assert.equal(d.block, b + 1);
      got.push(d.payload as Buffer);
    }
    assert.equal(sha256(Buffer.concat(got)), sha256(small));
  });

  it('transfer sockets kept between transfers: a new TID each time, strays to old ones ignored', async () => {
    /** Fetches small.bin from `sock` (lock-step, no options); returns the server's transfer port. */
    const fetchSmall = async (sock: number): Promise<number> => {
      await udp.send(sock, rrq('small.bin'));
      const got: Buffer[] = [];
      let port = 0;
      for (let b = 1; b <= 3; b++) {
        const d = await next(sock);
        assert.equal(d.block, b);
        port ||= d.port;
        got.push(d.payload as Buffer);
        await udp.send(sock, ack(b), port);
      }
      assert.equal(sha256(Buffer.concat(got)), sha256(small));
      return port;
    };
    const a = await udp.open();
    const first = await fetchSmall(a);
    const second = await fetchSmall(a);
    assert.notEqual(second, first);
    // Strays to the ports of finished transfers, then other clients, served by the kept sockets.
    await udp.send(a, ack(3), first);
    await udp.send(a, ack(3), second);
    const b = await udp.open();
    const third = await fetchSmall(b);
    const fourth = await fetchSmall(await udp.open());
    assert.equal(new Set([first, second, third, fourth]).size, 4, 'every transfer has its own TID');
    const stats = await lab.stats();
    assert.equal(stats.active, 0);
  });

  it("duplicate ACKs do not trigger resends (sorcerer's apprentice)", async () => {
    const sock = await udp.open();
    await udp.send(sock, rrq('small.bin'));
    const d1 = await next(sock);
    await udp.send(sock, ack(1), d1.port);
    await udp.send(sock, ack(1), d1.port);
    await udp.send(sock, ack(1), d1.port);
    const burst = await udp.drain(sock, TIMEOUT_MS * 0.6);
    assert.deepEqual(
      burst.map((d) => decode(d).block),
      [2],
    );
    await udp.send(sock, ack(2), d1.port);
    assert.equal((await next(sock)).block, 3);
    await udp.send(sock, ack(3), d1.port);
  });

  it('windowsize: an ACK of an earlier block restarts the window after it', async () => {
    const sock = await udp.open();
    await udp.send(sock, rrq('ten.bin', 'octet', { windowsize: '4', blksize: '512', tsize: '0' }));
    const oack = await next(sock);
    assert.equal(oack.op, 6);
    assert.deepEqual(oack.options, { windowsize: '4', blksize: '512', tsize: String(ten.length) });
    const port = oack.port;
    const blocks = new Map<number, Buffer>();
    const take = async (n: number): Promise<number[]> => {
      const seen: number[] = [];
      for (let i = 0; i < n; i++) {
        const d = await next(sock);
        seen.push(d.block as number);
        blocks.set(d.block as number, d.payload as Buffer);
      }
      return seen;
    };
    await udp.send(sock, ack(0), port);
    assert.deepEqual(await take(4), [1, 2, 3, 4]);
    await udp.send(sock, ack(2), port); // as if block 3 was lost
    assert.deepEqual(await take(4), [3, 4, 5, 6]);
    await udp.send(sock, ack(6), port);
    assert.deepEqual(await take(4), [7, 8, 9, 10]);
    await udp.send(sock, ack(10), port);
    assert.deepEqual(await take(1), [11]);
    await udp.send(sock, ack(11), port);
    const data = Buffer.concat([...blocks.keys()].sort((a, b) => a - b).map((b) => blocks.get(b) as Buffer));
    assert.equal(sha256(data), sha256(ten));
  });

  it('a lost OACK is resent; a retransmitted RRQ does not start a second transfer', async () => {
    const sock = await udp.open();
    const req = rrq('small.bin', 'octet', { blksize: '1024' });
    await udp.send(sock, req);
    const o1 = await next(sock);
    await udp.send(sock, req); // the client thinks its RRQ was lost
    const o2 = await next(sock, 3 * TIMEOUT_MS);
    assert.equal(o1.op, 6);
    assert.equal(o2.op, 6);
    assert.equal(o2.port, o1.port, 'a second transfer was started');
    await udp.send(sock, ack(0), o1.port);
    const d1 = await next(sock);
    assert.equal(d1.payload?.length, 1024);
    await udp.send(sock, ack(1), o1.port);
    const d2 = await next(sock);
    assert.equal(d2.payload?.length, 100);
    await udp.send(sock, ack(2), o1.port);
    assert.equal(sha256(Buffer.concat([d1.payload as Buffer, d2.payload as Buffer])), sha256(small));
  });

  it('a silent client is given up on after the retries, with an ERROR', async () => {
    const sock = await udp.open();
    const before = await lab.stats();
    await udp.send(sock, rrq('small.bin'));
    const packets = (await udp.drain(sock, TIMEOUT_MS * (RETRIES + 2))).map(decode);
    assert.deepEqual(
      packets.filter((p) => p.op === 3).map((p) => p.block),
      Array(RETRIES + 1).fill(1),
    );
    const last = packets.at(-1);
    assert.equal(last?.op, 5);
    assert.match(last?.message ?? '', /timed out/);
    const after = await lab.stats();
    assert.equal(after.errors, before.errors + 1);
  });

  it('a client whose port closes ends the transfer at once (ICMP port unreachable)', async () => {
    const sock = await udp.open();
    await udp.send(sock, rrq('small.bin'));
    await next(sock);
    const before = lab.events.length;
    await udp.close(); // its sockets go away; the next retransmission draws an ICMP error
    udp = await lab.udp();
    const deadline = Date.now() + TIMEOUT_MS * 3;
    for (let i = 0; i < 100 && Date.now() < deadline; i++) {
      if (lab.events.slice(before).some((e) => e.kind === 'error' && /network|refused/i.test(e.error ?? '')))
        break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const ended = lab.events.slice(before).find((e) => e.kind === 'error');
    assert.ok(ended, 'transfer did not end');
    assert.match(ended.error ?? '', /ECONNREFUSED|network/);
  });

  it('survives a malformed corpus, then still serves curl and atftp', async () => {
    const corpus: Buffer[] = [];
    const s = (x: string): Buffer => Buffer.from(x, 'latin1');
    corpus.push(
      Buffer.alloc(0),
      Buffer.from([0]),
      Buffer.from([0, 1]),
      Buffer.from([0, 1, 0]),
      Buffer.from([0, 2]),
    );
    for (const op of [0, 3, 4, 5, 6, 7, 9, 255, 0x0101, 0xffff]) {
      const b = Buffer.alloc(4);
      b.writeUInt16BE(op, 0);
      corpus.push(b, Buffer.concat([b, s('junk\0')]), b.subarray(0, 3));
    }
    corpus.push(
      s('\0\x01small.bin'), // no NUL after the name
      s('\0\x01small.bin\0octet'), // no NUL after the mode
      s('\0\x01\0octet\0'), // empty name
      s('\0\x01small.bin\0\0'), // empty mode
      s('\0\x01small.bin\0octet\0blksize\0'), // option name without a value
      s('\0\x01small.bin\0octet\0blksize'), // option name without terminator
      s('\0\x01small.bin\0octet\0blksize\0abc\0'),
      s('\0\x01small.bin\0octet\0blksize\0-1\0'),
      s('\0\x01small.bin\0octet\0blksize\0 99\0'),
      s('\0\x01small.bin\0octet\0blksize\x00999999999999\0'),
      s('\0\x01small.bin\0octet\0blksize\x00100000\0'),
      s('\0\x01small.bin\0octet\0blksize\x000\0windowsize\x000\0timeout\x000\0'),
      s('\0\x01small.bin\0octet\0windowsize\x0070000\0timeout\x009999\0tsize\0x\0'),
      s('\0\x01small.bin\0octet\0' + 'opt\0v\0'.repeat(100)),
      s('\0\x05\0\x01no terminator'),
      Buffer.concat([s('\0\x01'), Buffer.alloc(3000, 0x41), s('\0octet\0')]), // oversized name
      Buffer.alloc(60_000, 1), // oversized datagram
      ack(1),
      ack(0),
      s('\0\x03\0\x01data to port 69'), // ACK/DATA for unknown transfers
    );
    let seed = 0x1234567;
    const rnd = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    for (let i = 0; i < 400; i++) {
      const b = Buffer.alloc(rnd() % 600);
      for (let j = 0; j < b.length; j++) b[j] = rnd() & 0xff;
      if (i % 2 === 0 && b.length >= 2) b.writeUInt16BE(1 + (rnd() % 2), 0); // half look like requests
      corpus.push(b);
    }
    const before = await lab.stats();
    const sock = await udp.open();
    for (const pkt of corpus) await udp.send(sock, pkt);

    // The corpus at a live transfer's port, then the transfer completes normally. ERROR packets are left out:
    // an ERROR from the transfer's own peer ends it, as RFC 1350 says.
    const t = await udp.open();
    await udp.send(t, rrq('small.bin'));
    const d1 = await next(t);
    const notErrors = corpus.filter((p) => p.length < 2 || p.readUInt16BE(0) !== 5);
    for (const pkt of notErrors.slice(0, 120)) await udp.send(t, pkt, d1.port);
    const stranger = await udp.open(); // another TID: the connected transfer socket never sees it
    await udp.send(stranger, ack(1), d1.port);
    const got: Buffer[] = [d1.payload as Buffer];
    let block = 1;
    for (let i = 0; i < 20 && got.reduce((n, b) => n + b.length, 0) < small.length; i++) {
      await udp.send(t, ack(block), d1.port);
      const d = await next(t);
      if (d.op !== 3 || d.block !== block + 1) continue; // resends provoked by the junk ACKs are fine
      got.push(d.payload as Buffer);
      block++;
    }
    await udp.send(t, ack(block), d1.port);
    assert.equal(sha256(Buffer.concat(got)), sha256(small));

    const after = await lab.stats(); // the server process is alive and answering
    assert.ok(after.malformed - before.malformed >= 100, JSON.stringify(after));
    const curlOut = join(lab.out, 'after-corpus-curl');
    const c = await lab.client('curl', [
      '-sS',
      '--tftp-blksize',
      '1468',
      '-o',
      curlOut,
      `tftp://${lab.serverIp}/mid.bin`,
    ]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(await sha256File(curlOut), midSum);
    const atftpOut = join(lab.out, 'after-corpus-atftp');
    const a = await lab.client('atftp', [
      '--option',
      'blksize 1468',
      '--option',
      'windowsize 4',
      '-g',
      '-r',
      'mid.bin',
      '-l',
      atftpOut,
      lab.serverIp,
      '69',
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(await sha256File(atftpOut), midSum);
  });

  it('at maxTransfers, further requests are dropped (the client retries) and served once a slot frees', async () => {
    await lab.startServer({ timeoutMs: TIMEOUT_MS, retries: 1, maxTransfers: 2 });
    const hogs = [await udp.open(), await udp.open()];
    for (const h of hogs) await udp.send(h, rrq('small.bin'));
    for (const h of hogs) assert.equal((await next(h)).block, 1);
    const late = await udp.open();
    await udp.send(late, rrq('small.bin'));
    assert.equal(await udp.recv(late, TIMEOUT_MS / 2), undefined);
    assert.ok((await lab.stats()).refused >= 1);
    await new Promise((r) => setTimeout(r, TIMEOUT_MS * 3)); // the hogs time out
    await udp.send(late, rrq('small.bin'));
    const d = await next(late, 2000);
    assert.equal(d.op, 3);
    assert.equal(d.block, 1);
  });

  it('stopping the server tells active clients', async () => {
    await lab.startServer({ timeoutMs: 2000, retries: 3 });
    const sock = await udp.open();
    await udp.send(sock, rrq('small.bin'));
    assert.equal((await next(sock)).block, 1);
    await lab.startServer({ timeoutMs: 2000 }); // stop() then start()
    const e = await next(sock);
    assert.equal(e.op, 5);
    assert.match(e.message ?? '', /shutting down/);
  });
});
