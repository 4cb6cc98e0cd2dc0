// A SoT whose unattended config carries a secret, as operators write them into templates (a cluster join token):
// what the codec tests look for in workflow histories.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeSot } from './sot.ts';
import type { WrittenSot } from './sot.ts';

/** A line only the rendered config has. */
export const CONFIG_MARK = 'vaquero-rendered-config-marker';

export interface SecretSot extends WrittenSot {
  /** The literal secret written into the template, unique per call. */
  secret: string;
}

/** Two hosts, one boot (`install`, a cloud-config), under `parent`; sot and site are both `name`. */
export async function writeSecretSot(name: string, parent: string): Promise<SecretSot> {
  const secret = `K10${randomBytes(12).toString('hex')}::server:${randomBytes(8).toString('hex')}`;
  const sot = await writeSot(
    {
      sot: name,
      site: name,
      workflows: { one: { boots: ['install'] } },
      hosts: [
        { name: 'h1', workflow: 'one' },
        { name: 'h2', workflow: 'one' },
      ],
    },
    parent,
  );
  await writeFile(
    path.join(sot.dir, 'assets', 'cloud-config', 'install.yml'),
    [
      '#cloud-config',
      'hostname: {{ host.name }}',
      `# ${CONFIG_MARK}`,
      'write_files:',
      '  - path: /etc/rancher/k3s/token',
      `    content: "${secret}"`,
      'runcmd:',
      '  - curl -fsS {{ urls.checkpoint }}',
    ].join('\n') + '\n',
  );
  return { ...sot, secret };
}
