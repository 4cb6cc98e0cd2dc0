import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { errorPacket, oackPacket, parseError, parseRequest } from '../../../agent/tftp/packets.ts';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('TFTP packets', () => {
  it('parses an RRQ with options, lower-casing mode and option names, first occurrence winning', () => {
    const r = parseRequest(
      b('\0\x01dir/Undionly.kpxe\0OCTET\0BlkSize\x001468\0tsize\x000\0blksize\x00512\0'),
    );
    assert.ok(r.ok);
    assert.equal(r.request.op, 1);
    assert.equal(r.request.name.toString(), 'dir/Undionly.kpxe');
    assert.equal(r.request.mode, 'octet');
    assert.deepEqual(
      [...r.request.options],
      [
        ['blksize', '1468'],
        ['tsize', '0'],
      ],
    );
  });

  it('is liberal with the option list: NUL padding or a dangling name ends it', () => {
    const padded = parseRequest(b('\0\x01f\0octet\0tsize\x000\0\0\0\0'));
    assert.ok(padded.ok);
    assert.deepEqual([...padded.request.options], [['tsize', '0']]);
    const dangling = parseRequest(b('\0\x01f\0octet\0blksize\0'));
    assert.ok(dangling.ok);
    assert.equal(dangling.request.options.size, 0);
  });

  it('rejects truncated, oversized and non-request datagrams without throwing', () => {
    for (const raw of ['', '\0', '\0\x01', '\0\x01f', '\0\x01f\0octet', '\0\x04\0\x01', '\0\x09f\0octet\0']) {
      assert.equal(parseRequest(b(raw)).ok, false, JSON.stringify(raw));
    }
    assert.equal(parseRequest(Buffer.alloc(2000, 1)).ok, false);
  });

  it('builds ERROR and OACK packets', () => {
    assert.deepEqual(errorPacket(1, 'file not found'), b('\0\x05\0\x01file not found\0'));
    assert.deepEqual(parseError(errorPacket(2, 'no')), { code: 2, message: 'no' });
    assert.equal(parseError(b('\0\x05\0')), undefined);
    assert.deepEqual(parseError(b('\0\x05\0\x01unterminated')), { code: 1, message: 'unterminated' });
    assert.deepEqual(
      oackPacket([
        ['blksize', '1468'],
        ['tsize', '9'],
      ]),
      b('\0\x06blksize\x001468\0tsize\x009\0'),
    );
  });
});
