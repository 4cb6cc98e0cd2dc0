// The signed chain for GRUB hosts in the agent's TFTP root (shimx64.efi and grubx64.efi beside it): the agent
// cannot know at start whether its site sends hosts through GRUB, so neither file is required; but one without the
// other is a chain half put in place, and `vaquero agent --check` fails naming the missing one.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { freePort } from '../../temporal/ports.ts';
import { loadAgentConfig } from '../../agent/config.ts';
import { missingBootFiles } from '../../agent/boot-files-check.ts';
import { agentCheck } from './support/agent-check.ts';

async function agentWithRoot(t: { after(fn: () => Promise<void>): void }, files: string[]) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-grubfiles-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'tftp');
  await mkdir(root);
  for (const f of ['undionly.kpxe', 'ipxe.efi', ...files]) await writeFile(path.join(root, f), f);
  const file = path.join(dir, 'agent.yml');
  await writeFile(
    file,
    [
      'agent_id: a1',
      'site: lab',
      `data_dir: ${path.join(dir, 'data')}`,
      'temporal: { address: "127.0.0.1:1", codec: { off: true } }', // never reached
      'dhcp: { enabled: true }',
      `tftp: { enabled: true, root: ${root}, port: ${await freePort()} }`,
      `http: { listen: 127.0.0.1, port: ${await freePort()} }`,
    ].join('\n'),
  );
  return { root, file };
}

const check = agentCheck;

test('no GRUB chain, or a whole one: the check passes', async (t) => {
  for (const files of [[], ['shimx64.efi', 'grubx64.efi']]) {
    const a = await agentWithRoot(t, files);
    const r = await check(a.file);
    assert.equal(r.code, 0, r.out);
    // No problem named for GRUB (the plan's boot-files line may mention what arm64 GRUB hosts get).
    assert.doesNotMatch(r.out, /problem:.*GRUB|GRUB chain/);
  }
});

test('shim without GRUB, or GRUB without shim: the check fails naming the missing one', async (t) => {
  const shimOnly = await agentWithRoot(t, ['shimx64.efi']);
  const r = await check(shimOnly.file);
  assert.equal(r.code, 2, r.out);
  assert.match(
    r.out,
    new RegExp(
      `problem: boot file missing: boot_files \\(GRUB hosts: signed GRUB\\): grubx64\\.efi in ${shimOnly.root}: file not found, while shimx64\\.efi is there: the GRUB chain is half in place \\(asked for by UEFI x64 PXE of hosts booting through GRUB`,
    ),
  );
  const grubOnly = await agentWithRoot(t, ['grubx64.efi']);
  const g = await check(grubOnly.file);
  assert.equal(g.code, 2, g.out);
  assert.match(
    g.out,
    /boot file missing: boot_files \(GRUB hosts: shim\): shimx64\.efi in .*while grubx64\.efi is there/,
  );
});

test('with a SoT tftp_root, the chain is looked for in that folder, where the agent serves it from', async (t) => {
  // The root has the whole chain, the agent's folder only shim: half a chain where this agent serves.
  const a = await agentWithRoot(t, ['shimx64.efi', 'grubx64.efi']);
  const sub = path.join(a.root, 'rack-a');
  await mkdir(sub);
  for (const f of ['undionly.kpxe', 'ipxe.efi', 'shimx64.efi']) await writeFile(path.join(sub, f), f);
  const config = await loadAgentConfig(a.file, { ...process.env, TEMPORAL_ADDRESS: '' });
  const missing = await missingBootFiles(config, 'rack-a');
  assert.deepEqual(
    missing.map((m) => [m.file, path.basename(m.root)]),
    [['grubx64.efi', 'rack-a']],
  );
  // And a folder with neither file has no GRUB set up: nothing to say, whatever the root holds.
  await rm(path.join(sub, 'shimx64.efi'));
  assert.deepEqual(await missingBootFiles(config, 'rack-a'), []);
});

test('arm64: the arm64 chain (shimaa64.efi, grubaa64.efi) is checked on its own', async (t) => {
  const whole = await agentWithRoot(t, ['shimaa64.efi', 'grubaa64.efi']);
  const ok = await check(whole.file);
  assert.equal(ok.code, 0, ok.out);
  const shimOnly = await agentWithRoot(t, ['shimx64.efi', 'grubx64.efi', 'shimaa64.efi']);
  const r = await check(shimOnly.file);
  assert.equal(r.code, 2, r.out);
  assert.match(
    r.out,
    /problem: boot file missing: boot_files \(GRUB hosts, arm64: signed GRUB\): grubaa64\.efi in .*while shimaa64\.efi is there: the GRUB chain is half in place \(asked for by UEFI arm64 PXE \(arch 11\)/,
  );
  assert.doesNotMatch(r.out, /grubx64\.efi in/, 'the whole x64 chain is not reported');
});
