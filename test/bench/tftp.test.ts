// Smoke run of the TFTP benchmark (bench/tftp.ts): the agent, dnsmasq and tftpd-hpa in a namespace, curl in
// another. Checks that every server served every file and the result is complete, never how fast.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runTftp, TFTP_SMOKE } from '../../bench/tftp.ts';
import { requireRoot } from '../../testkit/netns.ts';
import { assertMeasured, assertWellFormed, benchContext } from './support/well-formed.ts';

requireRoot();

test('the TFTP benchmark measures the agent, dnsmasq and tftpd-hpa and reports every row', async () => {
  const ctx = benchContext('tftp');
  try {
    const r = await runTftp(TFTP_SMOKE, ctx);
    assertWellFormed(r, 'tftp', ['dnsmasq', 'tftpd-hpa']);
    assertMeasured(r.rows, 'transfers');
    assertMeasured(r.rows, 'burst, all done');
    assert.deepEqual(r.notes, [], 'no failed transfers');
    assert.equal(r.rows.length, TFTP_SMOKE.concurrency.length * 2 * 2);
  } finally {
    ctx.remove();
  }
});
