import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileCache } from '../../../agent/tftp/file-cache.ts';

describe('TFTP hot-file cache', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'vaquero-tftp-cache-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves an entry only while the file is unchanged, and evicts least recently used', () => {
    const cache = new FileCache({ maxFileBytes: 10, maxTotalBytes: 20 });
    const p = (n: string): string => join(dir, n);
    for (const n of ['a', 'b', 'c']) writeFileSync(p(n), n.repeat(8));
    const st = (n: string) => statSync(p(n));
    cache.put(p('a'), st('a'), Buffer.from('aaaaaaaa'));
    cache.put(p('b'), st('b'), Buffer.from('bbbbbbbb'));
    assert.equal(cache.get(p('a'), st('a'))?.toString(), 'aaaaaaaa'); // a is now most recent
    cache.put(p('c'), st('c'), Buffer.from('cccccccc')); // evicts b
    assert.equal(cache.get(p('b'), st('b')), undefined);
    assert.ok(cache.get(p('a'), st('a')));
    writeFileSync(p('a'), 'changed!!');
    assert.equal(cache.get(p('a'), st('a')), undefined, 'a changed file is not served from the cache');
    assert.equal(cache.cacheable(11), false);
  });
});
