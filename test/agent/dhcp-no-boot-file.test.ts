// A host whose gate is open but for whose firmware the agent has no boot file gets a `refused` boot event saying
// why, so its stall names the cause instead of "no tftp within 60s". Through the product entry
// (startAgent(loadAgentConfig(file)), in a namespace) with a real client: busybox udhcpc as a UEFI arm64 PXE
// firmware (option 93 = 11) for an iPXE host, and the agent configured with no boot_files.arm64 (the default, as
// Debian ships no arm64 iPXE). Temporal is unreachable, so the event waits in the agent's on-disk outbox, where the
// test reads it.
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { NetbootGateInput } from '../../domain/activity-contracts.ts';
import type { SiteModel } from '../../domain/site-model.ts';
import { createVethPair, requireRoot } from '../../testkit/netns.ts';
import { asClient, labSubnet, runUdhcpc, scratch } from './dhcp/support/lab.ts';
import { startNsAgent } from './support/ns-agent.ts';

const PREFIX = '10.77.73';
const MAC = '52:54:00:77:73:0a';
const ARM64_PXE = { vendorClass: 'PXEClient:Arch:00011:UNDI:003000', send: ['0x5d:000b'], request: [67] };
const REASON = 'dhcp: no boot file for UEFI arm64 PXE (arch 11): boot_files.arm64 is not set';

const gate: NetbootGateInput = {
  site: 'lab',
  host: 'arm-ipxe',
  mac: MAC,
  sot: 'lab',
  revision: 'dir-73',
  fingerprint: 'sha256:x',
  bootStage: 1,
  hasConfig: false,
  open: true,
  workflowId: 'host/lab/arm-ipxe',
  runId: 'run-1',
  artifacts: {
    bootStage: 1,
    ipxe: `#!ipxe\nkernel http://${PREFIX}.1:8080/assets/linux\nboot\n`,
    kernel: `http://${PREFIX}.1:8080/assets/linux`,
    initrds: [],
    cmdline: '',
  },
};

const siteModel: SiteModel = {
  sot: 'lab',
  revision: 'dir-73',
  site: 'lab',
  httpUrl: `http://${PREFIX}.1:8080`,
  dhcpMode: 'server',
  subnets: [labSubnet(PREFIX)],
  reservations: [{ host: 'arm-ipxe', mac: MAC, ipv4: `${PREFIX}.10`, subnet: 'lab', hostname: 'arm-ipxe' }],
};

/** Every file under `dir`, read as text. */
async function textsUnder(dir: string): Promise<string> {
  let out = '';
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    out += await readFile(path.join(e.parentPath, e.name), 'utf8').catch(() => '');
  }
  return out;
}

test('an open host the agent has no boot file for: answered without one, and a refusal on its run saying why', async (t) => {
  requireRoot();
  const pair = createVethPair({ prefix: PREFIX });
  t.after(() => pair.cleanup());
  const tmp = scratch();
  t.after(() => tmp.remove());
  const dataDir = path.join(tmp.dir, 'data');
  const configFile = path.join(tmp.dir, 'agent.yml');
  await writeFile(
    configFile,
    [
      'agent_id: nofile-agent',
      'site: lab',
      `data_dir: ${dataDir}`,
      'temporal: { address: 127.0.0.1:1, codec: { off: true } }', // never reached: events stay in the outbox
      `interfaces: [{ name: ${pair.serverIf}, address: ${pair.serverIp}, cidr: ${pair.serverIp}/24 }]`,
      'dhcp: { enabled: true, mode: server, lease_seconds: 600 }',
      'tftp: { enabled: false }',
      'http: { listen: 0.0.0.0, port: 8080 }',
      'log_level: info',
    ].join('\n'),
  );
  const agent = await startNsAgent(pair.server, configFile);
  t.after(() => agent.stop());
  await agent.call({ op: 'siteModel', model: siteModel });
  await agent.call({ op: 'gate', gate });

  asClient(pair, MAC);
  const r = await runUdhcpc(pair.client, pair.clientIf, tmp.dir, { ...ARM64_PXE, tag: 'arm' });
  assert.equal(r.code, 0, r.output);
  assert.equal(r.env?.ip, `${PREFIX}.10`, 'the host still gets its address');
  assert.equal(r.env?.boot_file ?? '', '', 'and no boot file');

  // Written to the outbox shortly after the answer: wait for it (bounded).
  let texts = '';
  for (let i = 0; i < 100 && !texts.includes(REASON); i++) {
    texts = await textsUnder(dataDir);
    if (!texts.includes(REASON)) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(texts.includes(REASON), `the refusal in the outbox: ${texts.slice(-2000)}`);
  // One refused event for the run however often the firmware asks (udhcpc sent a DISCOVER and a REQUEST).
  const refusals = texts.split('\n').filter((l) => l.includes('"kind":"refused"'));
  assert.equal(refusals.length, 1, texts.slice(-2000));
  assert.ok(refusals[0]!.includes(`"detail":"${REASON}"`), refusals[0]);
  assert.ok(refusals[0]!.includes('"workflowId":"host/lab/arm-ipxe"'), refusals[0]);
});
