// The agent's configuration: the shipped example loads, the environment overrides what differs per deployment,
// and a bad file names every problem.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { loadAgentConfig } from '../../agent/config.ts';

const EXAMPLE = fileURLToPath(new URL('../../agent/agent.example.yml', import.meta.url));

test('the example configuration loads with its defaults', async () => {
  const c = await loadAgentConfig(EXAMPLE, {});
  assert.equal(c.agent_id, 'lab-agent-1');
  assert.equal(c.dhcp.proxy_port, 4011);
  assert.equal(c.dhcp.max_packets_per_second, 10_000);
  assert.equal(c.dhcp.max_packets_per_client_per_second, 20);
  assert.equal(c.tftp.root, '/usr/lib/ipxe');
  assert.equal(c.boot_files.efi64, 'ipxe.efi');
  assert.equal(c.interfaces[0]?.cidr, '10.77.1.0/24');
});

test('environment overrides win over the file', async () => {
  const c = await loadAgentConfig(EXAMPLE, {
    TEMPORAL_ADDRESS: '127.0.0.1:9999',
    TEMPORAL_NAMESPACE: 'other',
    VAQUERO_AGENT_ID: 'agent-b',
    VAQUERO_DATA_DIR: '/tmp/agent-b',
  });
  assert.equal(c.temporal?.address, '127.0.0.1:9999');
  assert.equal(c.temporal?.namespace, 'other');
  assert.equal(c.agent_id, 'agent-b');
  assert.equal(c.data_dir, '/tmp/agent-b');
});

test('a bad configuration lists every problem with its field', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-agentcfg-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'agent.yml');
  await writeFile(
    file,
    'agent_id: A!\nsite: lab\ndata_dir: d\nhttp: { port: 70000 }\ninterfaces: [{ address: nope, cidr: 10.0.0.0/8 }]\ncolour: blue\n',
  );
  await assert.rejects(loadAgentConfig(file, {}), (err: Error) => {
    for (const field of ['agent_id', 'http.port', 'interfaces.0.address', 'colour'])
      assert.match(err.message, new RegExp(field.replace('.', '\\.')));
    return true;
  });
});
