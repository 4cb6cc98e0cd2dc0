// The validate stage's comparison of a booted kernel command line with the SoT's rendered one.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { cmdlineDifference } from '../../workflows/cmdline-difference.ts';

const rendered = 'console=ttyS0 quiet callback=http://a/checkpoint/T';

it('agrees when only the bootloader and kernel added their own tokens', () => {
  assert.equal(cmdlineDifference(rendered, `initrd=tiny.gz ${rendered}`), '');
  assert.equal(cmdlineDifference(rendered, `BOOT_IMAGE=/vmlinuz ${rendered} initrd=a initrd=b`), '');
  // iPXE on UEFI: the image name first.
  assert.equal(cmdlineDifference(rendered, `linux initrd=tiny.gz ${rendered}`, 'http://a/assets/linux'), '');
});

it('names what is missing and what is unexpected, counting repeats', () => {
  assert.equal(cmdlineDifference(`${rendered} demo=2`, rendered), 'missing demo=2');
  assert.equal(cmdlineDifference(rendered, `${rendered} quiet`), 'unexpected quiet');
  assert.equal(cmdlineDifference(rendered, `linux ${rendered}`), 'unexpected linux');
  assert.equal(cmdlineDifference('a b', 'a c', 'http://x/k'), 'missing b; unexpected c');
});
