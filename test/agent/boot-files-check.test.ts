// Every boot file the agent's DHCP answers can name is checked to be there to serve: `vaquero agent --check` fails
// naming each missing one (file, root, the firmware that would ask for it, why), and a running agent starts all the
// same (other hosts still boot), logs an error per missing file and shows them in /health and /metrics.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { startAgent } from '../../agent/agent.ts';
import { loadAgentConfig } from '../../agent/config.ts';
import { freePort } from '../../temporal/ports.ts';
import { agentCheck } from './support/agent-check.ts';

async function siteWithRoot(t: { after(fn: () => Promise<void>): void }, bootFiles: string[]) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-bootfiles-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const root = path.join(dir, 'tftp');
  await mkdir(root);
  // BIOS's file is there; UEFI x64's is a symlink out of the root (served by neither TFTP nor /boot/); arm64's absent.
  await writeFile(path.join(root, 'undionly.kpxe'), 'pxe');
  await writeFile(path.join(dir, 'outside.efi'), 'efi');
  await symlink(path.join(dir, 'outside.efi'), path.join(root, 'ipxe.efi'));
  const file = path.join(dir, 'agent.yml');
  const httpPort = await freePort();
  await writeFile(
    file,
    [
      'agent_id: a1',
      'site: lab',
      `data_dir: ${path.join(dir, 'data')}`,
      'temporal: { address: "127.0.0.1:1", codec: { off: true } }', // never reached
      'dhcp: { enabled: true }', // no interfaces: nothing is answered, but the files the answers name are checked
      `tftp: { enabled: true, root: ${root}, port: ${await freePort()} }`,
      `http: { listen: 127.0.0.1, port: ${httpPort} }`,
      ...bootFiles,
    ].join('\n'),
  );
  return { dir, root, file, httpPort };
}

const check = agentCheck;

test('vaquero agent --check fails on each boot file the DHCP answers can name and cannot serve', async (t) => {
  const site = await siteWithRoot(t, ['boot_files: { arm64: grubaa64.efi }']);
  const r = await check(site.file);
  assert.equal(r.code, 2, r.out);
  assert.match(
    r.out,
    new RegExp(
      `problem: boot file missing: boot_files\\.efi64: ipxe\\.efi in ${site.root}: symlink leaves the root \\(asked for by UEFI x64 PXE \\(arch 7, 9\\) over TFTP; UEFI x64 HTTP boot \\(arch 16\\) at /boot/\\)`,
    ),
  );
  assert.match(
    r.out,
    new RegExp(
      `problem: boot file missing: boot_files\\.arm64: grubaa64\\.efi in ${site.root}: file not found \\(asked for by UEFI arm64 PXE \\(arch 11\\) over TFTP; UEFI arm64 HTTP boot \\(arch 19\\) at /boot/\\)`,
    ),
  );
  assert.doesNotMatch(r.out, /problem: .*undionly\.kpxe/, 'the file that is there is no problem');
  assert.match(
    r.out,
    /boot files: undionly\.kpxe \(boot_files\.bios\), ipxe\.efi \(boot_files\.efi64\), grubaa64\.efi/,
  );

  // The files put in place (a real file for x64; arm64 not offered at all): the check passes.
  await rm(path.join(site.root, 'ipxe.efi'));
  await writeFile(path.join(site.root, 'ipxe.efi'), 'efi');
  await writeFile(site.file, (await readFile(site.file, 'utf8')).replace(/^boot_files.*$/m, ''));
  const ok = await check(site.file);
  assert.equal(ok.code, 0, ok.out);
  assert.match(
    ok.out,
    /arm64 iPXE hosts get no answer \(no boot_files\.arm64; arm64 GRUB hosts get shimaa64\.efi\)/,
  );
  assert.match(ok.out, /configuration OK/);
});

test('a running agent starts with a boot file missing, logs it, and shows it in /health and /metrics', async (t) => {
  const site = await siteWithRoot(t, ['boot_files: { arm64: grubaa64.efi }']);
  const lines: { level: number; msg: string; file?: string }[] = [];
  const agent = await startAgent(await loadAgentConfig(site.file), {
    logger: pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as never) }),
    reconcileEveryMs: 3_600_000,
  });
  t.after(() => agent.stop());
  const errors = lines.filter((l) => l.level === 50 && /^boot file missing/.test(l.msg));
  assert.deepEqual(errors.map((l) => l.file).sort(), ['grubaa64.efi', 'ipxe.efi']);

  const health = (await (await fetch(`${agent.httpUrl}/health`)).json()) as {
    bootFiles: { missing: string[] };
    services: Record<string, { state: string }>;
  };
  assert.equal(health.bootFiles.missing.length, 2);
  assert.match(health.bootFiles.missing.join('\n'), /boot_files\.arm64: grubaa64\.efi in .*: file not found/);
  assert.equal(health.services.tftp?.state, 'listening', 'TFTP serves the files that are there');

  const metrics = await (await fetch(`${agent.httpUrl}/metrics`)).text();
  assert.match(metrics, /vaquero_agent_boot_file_missing\{field="boot_files.efi64",file="ipxe.efi"\} 1/);
  assert.match(metrics, /vaquero_agent_boot_file_missing\{field="boot_files.arm64",file="grubaa64.efi"\} 1/);
  assert.doesNotMatch(metrics, /vaquero_agent_boot_file_missing\{[^}]*undionly/);
});
