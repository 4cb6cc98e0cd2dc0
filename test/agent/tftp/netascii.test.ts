import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { netasciiLength, toNetascii } from '../../../agent/tftp/netascii.ts';

describe('netascii', () => {
  it('turns LF into CR LF and a bare CR into CR NUL', () => {
    const src = Buffer.from('a\nb\rc\r\nd', 'latin1');
    const out = toNetascii(src);
    assert.equal(out.toString('latin1'), 'a\r\nb\r\0c\r\0\r\nd');
    assert.equal(netasciiLength(src), out.length);
    assert.equal(toNetascii(Buffer.alloc(0)).length, 0);
  });
});
