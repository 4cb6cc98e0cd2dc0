// What issue 16 checks after a lab rollout whose templates and tasks name the lab's join token: every workflow
// history of the run, dumped with the `temporal` CLI from the run's Temporal data (kept with the run's directory and
// served again, outside the lab's namespace, with the key the run wrote there), holds neither the token, the
// rendered config nor the reference in clear. Opened with the key, the host histories do hold the rendered config
// and the reference (so the search looks for what is there), and still never the token.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { secretPlaceholder } from '../../domain/secret.ts';
import type { LabRun } from '../../lab/run.ts';
import { LAB_CONFIG_MARK, LAB_JOIN_TOKEN_REF } from '../../lab/sot.ts';
import { labJoinToken } from '../../lab/stack.ts';
import { freeServerPorts } from '../../testkit/stack.ts';
import { connectTemporal } from '../../temporal/connection.ts';
import { decodedPayloadText, dumpHistories, historiesContaining } from '../../testkit/history-dump.ts';

/** The run's join token (kept run directories only). */
export function runJoinToken(run: LabRun): Promise<string> {
  return labJoinToken(path.join(run.dir, 'stack'));
}

export interface HistorySecretsCheck {
  site: string;
  /** Hosts whose boot served the lab config: their decrypted histories must hold it. */
  configHosts: string[];
  /** More text the decrypted history of a host must hold (e.g. a task env's placeholder), by host. */
  decodedAlso?: Record<string, string[]>;
}

export async function assertNoSecretInHistories(
  t: TestContext,
  run: LabRun,
  check: HistorySecretsCheck,
): Promise<void> {
  const token = await runJoinToken(run);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
  // Free ports, never the defaults: other tests run beside this one (tools/test-lanes.ts).
  const temporal = await connectTemporal({
    dataDir: path.join(run.dir, 'stack', 'temporal'),
    ui: false,
    ports: await freeServerPorts(),
    env,
  });
  try {
    const dump = await dumpHistories(temporal.client, temporal);
    const ids = [...dump.keys()].map((k) => k.split('@')[0]!);
    t.diagnostic(`${dump.size} histories: ${[...new Set(ids)].join(', ')}`);
    for (const prefix of [...check.configHosts.map((h) => `host/${check.site}/${h}`), 'rollout/']) {
      assert.ok(
        ids.some((id) => id.startsWith(prefix)),
        `${prefix}… dumped: ${ids.join(', ')}`,
      );
    }
    // Hosts, rollouts, the site's BMC semaphore: every kind of workflow the rollout ran.
    assert.ok(
      new Set(ids.map((id) => id.split('/')[0])).size >= 3,
      `every kind of workflow: ${ids.join(', ')}`,
    );
    const ref = secretPlaceholder(LAB_JOIN_TOKEN_REF);
    assert.deepEqual(historiesContaining(dump, [token, LAB_CONFIG_MARK, ref]), []);
    const codec = temporal.codec.codec;
    assert.ok(codec, 'the run encrypted its payloads');
    for (const name of check.configHosts) {
      const [, json] = [...dump].find(([k]) => k.startsWith(`host/${check.site}/${name}@`))!;
      const text = await decodedPayloadText(json, codec);
      for (const needle of [`${LAB_CONFIG_MARK} ${name}`, ref, ...(check.decodedAlso?.[name] ?? [])])
        assert.ok(text.includes(needle), `${name}: its decrypted history holds ${needle}`);
      // Where the rendered config is (encrypted): the plan's result and the gate the power activity opens.
      t.diagnostic(
        `${name}: the rendered config ${text.split(LAB_CONFIG_MARK).length - 1} times in its history`,
      );
    }
    for (const json of dump.values()) assert.ok(!(await decodedPayloadText(json, codec)).includes(token));
  } finally {
    await temporal.close();
  }
}
