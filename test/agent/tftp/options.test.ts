import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { negotiate } from '../../../agent/tftp/options.ts';

const limits = { maxBlksize: 1468, maxWindowsize: 16, timeoutMs: 1000 };
const opts = (o: Record<string, string>): Map<string, string> => new Map(Object.entries(o));

describe('TFTP option negotiation', () => {
  it('no options: RFC 1350 defaults and no OACK', () => {
    assert.deepEqual(negotiate(opts({}), 10, limits), {
      blksize: 512,
      windowsize: 1,
      timeoutMs: 1000,
      oack: [],
    });
  });

  it('clamps blksize and windowsize to the limits, answers tsize with the size, echoes timeout', () => {
    const n = negotiate(opts({ blksize: '8192', tsize: '0', windowsize: '64', timeout: '3' }), 4242, limits);
    assert.deepEqual(n, {
      blksize: 1468,
      windowsize: 16,
      timeoutMs: 3000,
      oack: [
        ['blksize', '1468'],
        ['tsize', '4242'],
        ['windowsize', '16'],
        ['timeout', '3'],
      ],
    });
  });

  it('ignores unknown options and invalid values (RFC 2347: the OACK holds only what is accepted)', () => {
    const n = negotiate(
      opts({
        blksize: '7',
        windowsize: '0',
        timeout: '256',
        rollover: '0',
        multicast: '',
        tsize: '1e3',
        foo: '1',
      }),
      10,
      limits,
    );
    assert.deepEqual(n.oack, []);
    assert.equal(n.blksize, 512);
    assert.deepEqual(
      negotiate(opts({ timeout: '60' }), 10, limits).oack,
      [],
      'a timeout above 30 s is not acknowledged',
    );
  });

  it('leaves tsize out of the OACK for an empty file (curl rejects "tsize 0")', () => {
    assert.deepEqual(negotiate(opts({ tsize: '0', blksize: '512' }), 0, limits).oack, [['blksize', '512']]);
  });
});
