// Real BMCs in real host workflows (dev server and workers): a host whose IPMI BMC (ipmi_sim) is reached with a
// credentials reference is provisioned, and its whole history holds no trace of the secret; a host whose Redfish
// BMC (sushy behind a proxy) ignores the boot override fails at power with that reason, after the retries.
import type { Payload } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { IpmiDriver } from '../../../activities/power/ipmi-driver.ts';
import type { PowerDriver } from '../../../activities/power/driver.ts';
import { RedfishDriver } from '../../../activities/power/redfish-driver.ts';
import { FileSecretStore } from '../../../agent/secrets/file-secret-store.ts';
import type { SimFleet } from '../../../sim/sim-fleet.ts';
import { hostWorkflowId } from '../../../domain/workflow-api.ts';
import { startIpmiSim } from '../../../testkit/ipmi-sim.ts';
import { startRedfishProxy, startSushy } from '../../../testkit/redfish.ts';
import { writeSot } from '../../../testkit/sot.ts';
import { startTestStack } from '../../../testkit/stack.ts';
import type { TestStack } from '../../../testkit/stack.ts';
import { hostStatus, rolloutResult, startRollout, withTimeout } from '../../../testkit/workflows.ts';
import { setBmc, startSiteWithExtras } from './site-extras.ts';

let stack: TestStack;
let secretsDir: string;
before(async () => {
  stack = await startTestStack({ name: 'bmc-wf' });
  secretsDir = await mkdtemp(path.join(tmpdir(), 'vaq-secrets-'));
});
after(async () => {
  await stack?.close();
  await rm(secretsDir, { recursive: true, force: true });
});

/** Every byte of a workflow's history as text: payload data decoded, everything else as JSON. */
async function historyText(workflowId: string): Promise<string> {
  const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
  const codecs = [...(stack.temporal.dataConverter.payloadCodecs ?? [])].reverse();
  // Payloads are encrypted by the stack's codec: opened as the UI's codec endpoint would, so the search below sees
  // what an operator with a token sees. Buffers serialise themselves (toJSON) before a replacer sees them, so they
  // are turned into text on the same walk.
  const open = async (v: unknown): Promise<unknown> => {
    if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
    if (Array.isArray(v)) return Promise.all(v.map(open));
    if (v && typeof v === 'object') {
      const o = { ...(v as Record<string, unknown>) };
      if (Array.isArray(o.payloads)) {
        let payloads = o.payloads as Payload[];
        for (const codec of codecs) payloads = await codec.decode(payloads);
        o.payloads = payloads;
      }
      return Object.fromEntries(
        await Promise.all(Object.entries(o).map(async ([k, x]) => [k, await open(x)])),
      );
    }
    return v;
  };
  return JSON.stringify(await open(history));
}

/** The secret and what is commonly derived from it. */
const traces = (username: string, password: string) => [
  password,
  Buffer.from(password).toString('base64'),
  Buffer.from(`${username}:${password}`).toString('base64'),
  encodeURIComponent(password),
];

/**
 * An IPMI BMC in front of a sim host: every call goes to the real BMC (ipmi_sim, with the resolved password),
 * and power-ons are mirrored to the sim host so that it network-boots and reports its boot events.
 */
function ipmiInFrontOfSim(fleet: () => SimFleet): PowerDriver {
  const real = new IpmiDriver();
  return {
    name: 'ipmi',
    powerStatus: (t) => real.powerStatus(t),
    powerOn: async (t) => {
      await real.powerOn(t);
      await fleet().driver.powerCycle(t);
    },
    powerOff: (t) => real.powerOff(t),
    powerCycle: async (t) => {
      await real.powerCycle(t);
      await fleet().driver.powerCycle(t);
    },
    powerReset: (t) => real.powerReset(t),
    setBootDevice: async (t, device, opts) => {
      await real.setBootDevice(t, device, opts);
      await fleet().driver.setBootDevice(t, device, opts);
    },
    getBootDevice: (t) => real.getBootDevice(t),
  };
}

test('a host whose IPMI BMC uses a credentials reference: provisioned, and no trace of the secret in its history', async () => {
  const password = `Vq${randomBytes(7).toString('hex')}`;
  const bmc = await startIpmiSim({ password });
  const secrets = path.join(secretsDir, 'ipmi.yaml');
  await writeFile(secrets, `lab-ipmi: { username: ${bmc.username}, password: "${password}" }\n`);
  const sot = await writeSot({
    sot: 'ipmi-secret',
    site: 'ipmisecret',
    workflows: { one: { boots: ['quick'] } },
    hosts: [{ name: 'h1', workflow: 'one' }],
  });
  await setBmc(sot, 'h1', {
    driver: 'ipmi',
    address: bmc.address,
    credentials: 'lab-ipmi',
    options: { cipher_suite: 3 },
  });
  const holder: { fleet?: SimFleet } = {};
  const site = await startSiteWithExtras(stack, sot.site, {
    drivers: { ipmi: ipmiInFrontOfSim(() => holder.fleet!) },
    secrets: new FileSecretStore(secrets),
  });
  holder.fleet = site.fleet;
  try {
    const r = await startRollout(stack.client, sot);
    const result = await rolloutResult(stack.client, r.workflowId);
    assert.equal(result.state, 'completed', JSON.stringify(result));
    const s = await hostStatus(stack.client, sot.site, 'h1');
    assert.equal(s.state, 'provisioned');
    assert.ok(
      s.timeline.some(
        (e) =>
          e.kind === 'power' &&
          e.message === 'power cycled: next boot Force PXE (once), power turned on, now on',
      ),
      JSON.stringify(s.timeline),
    );
    // The real BMC was driven, with the password the reference names.
    assert.deepEqual(await bmc.powerOns(), ['pxe']);

    const text = await historyText(hostWorkflowId(sot.site, 'h1'));
    // The search sees activity inputs (the BMC reference and address are there), so it would see a secret.
    assert.ok(text.includes('lab-ipmi') && text.includes(bmc.address), 'payloads are decoded');
    for (const t of traces(bmc.username, password)) assert.ok(!text.includes(t), `history contains ${t}`);
    for (const t of traces(bmc.username, password))
      assert.ok(!(await historyText(r.workflowId)).includes(t), 'rollout history');
  } finally {
    await site.stop();
    await bmc.stop();
  }
});

test('a Redfish BMC that ignores the boot override: the host fails at power with that reason, after the retries', async () => {
  const sushy = await startSushy();
  const proxy = await startRedfishProxy(sushy, { dropBootPatch: true });
  const secrets = path.join(secretsDir, 'redfish.env');
  await writeFile(secrets, `lab-redfish=${sushy.username}:${sushy.password}\n`);
  const sot = await writeSot({
    sot: 'rf-deaf',
    site: 'rfdeaf',
    workflows: { one: { boots: ['quick'] } },
    hosts: [{ name: 'h1', workflow: 'one' }],
  });
  await setBmc(sot, 'h1', { driver: 'redfish', address: proxy.url, credentials: 'lab-redfish' });
  const site = await startSiteWithExtras(stack, sot.site, {
    drivers: { redfish: new RedfishDriver() },
    secrets: new FileSecretStore(secrets),
  });
  try {
    const r = await startRollout(stack.client, sot);
    const result = await rolloutResult(stack.client, r.workflowId);
    assert.deepEqual(result.failedHosts, [`${sot.site}/h1`]);
    const err = await withTimeout(
      'host result',
      stack.client.workflow
        .getHandle(hostWorkflowId(sot.site, 'h1'))
        .result()
        .then(
          () => undefined,
          (e: unknown) => e,
        ),
      30_000,
    );
    assert.ok(err instanceof WorkflowFailedError, String(err));
    assert.equal(
      err.cause?.message,
      'rfdeaf/h1 failed at power: BMC power cycle failed: boot override not applied: BMC reports Hdd after 3 attempts',
    );

    const s = await hostStatus(stack.client, sot.site, 'h1');
    assert.equal(s.stage, 'power');
    assert.equal(s.powerCycles, 0);
    // Read back after every write: three PATCHes, each followed by a GET of the system; never a reset.
    const patches = proxy.requests.filter((q) => q.method === 'PATCH');
    assert.equal(patches.length, 3);
    assert.ok(!proxy.requests.some((q) => q.method === 'POST' && q.path.endsWith('ComputerSystem.Reset')));
    const text = await historyText(hostWorkflowId(sot.site, 'h1'));
    for (const t of traces(sushy.username, sushy.password))
      assert.ok(!text.includes(t), `history contains ${t}`);
  } finally {
    await site.stop();
    await proxy.stop();
    await sushy.stop();
  }
});
