// An agents[] entry's own settings: `cdn_url` (the CDN its /assets/ proxies to) and `tftp_root` (the sub-folder of
// its TFTP root it serves). Bad values are refused at their file:line, all at once; good ones reach exactly that
// agent's entry of the site model the agents are sent, and change no host's boot (nothing to reprovision).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildSiteModel } from '../../activities/control/site-model.ts';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { loadSot } from '../../sot/load.ts';
import { planModels } from '../../sot/plan.ts';
import { validateSot } from '../../sot/validate.ts';
import { copyWithEdits } from '../../testkit/sot-copy.ts';

const BASE = fileURLToPath(new URL('../fixtures/plan/base', import.meta.url));
const ENV = 'sites/alpha/env.yml';
const AGENT = `  - id: alpha-agent
    http_url: http://10.1.0.1:8080/
    dhcp_mode: server
`;

function agents(text: string) {
  return { file: ENV, replace: AGENT, with: text };
}

async function problems(text: string): Promise<string[]> {
  const dir = await copyWithEdits(BASE, [agents(text)], 'vaquero-agent-settings-');
  return (await validateSot(dir)).diagnostics.map(formatDiagnostic);
}

describe('agents[] cdn_url and tftp_root', () => {
  test('good values validate and reach only their own agent’s entry', async () => {
    const dir = await copyWithEdits(BASE, [
      agents(`${AGENT}    cdn_url: https://mirror.example:8443/pub/boot/
    tftp_root: ipxe/rack-a
  - id: alpha-agent-2
    http_url: http://10.1.0.2:8080
    dhcp_mode: proxy
    cdn_url: http://10.9.0.5
`),
    ]);
    assert.deepEqual((await validateSot(dir)).diagnostics.map(formatDiagnostic), []);
    const { model } = await loadSot(dir);
    const site = buildSiteModel(model, 'sot', 'r1', 'alpha');
    assert.deepEqual(site.agents, [
      {
        id: 'alpha-agent',
        httpUrl: 'http://10.1.0.1:8080',
        dhcpMode: 'server',
        cdnUrl: 'https://mirror.example:8443/pub/boot',
        tftpRoot: 'ipxe/rack-a',
      },
      { id: 'alpha-agent-2', httpUrl: 'http://10.1.0.2:8080', dhcpMode: 'proxy', cdnUrl: 'http://10.9.0.5' },
    ]);
    // An entry without them sends the model it sent before the fields existed.
    const { model: before } = await loadSot(BASE);
    assert.deepEqual(Object.keys(buildSiteModel(before, 'sot', 'r1', 'alpha').agents![0]!).sort(), [
      'dhcpMode',
      'httpUrl',
      'id',
    ]);
    // Where an agent fetches assets from and which TFTP folder it serves change nothing a host boots.
    const moved = planModels(before, model).hosts.filter((h) => h.action === 'reprovision');
    assert.deepEqual(moved, []);
  });

  test('every bad value is refused at its line, at once', async () => {
    const found = await problems(`${AGENT}    cdn_url: ftp://mirror.example/pub
    tftp_root: ../etc
  - id: two
    http_url: http://10.1.0.2:8080
    dhcp_mode: server
    cdn_url: http://user:pw@mirror.example/
    tftp_root: /srv/tftp
  - id: three
    http_url: http://10.1.0.3:8080
    dhcp_mode: server
    cdn_url: http://mirror.example/pub?token=x
    tftp_root: a/./b
  - id: four
    http_url: http://10.1.0.4:8080
    dhcp_mode: server
    cdn_url: not a url
    tftp_root: "a b"
`);
    const at = (line: number, text: string) =>
      assert.ok(
        found.some((p) => p.startsWith(`${ENV}:${line}:`) && p.includes(text)),
        `no "${text}" at line ${line} in:\n${found.join('\n')}`,
      );
    at(13, 'scheme ftp');
    at(14, 'relative folder');
    at(18, 'credentials');
    at(19, 'relative folder');
    at(23, 'query or fragment');
    at(24, 'relative folder');
    at(28, 'not a URL');
    at(29, 'relative folder');
    assert.equal(found.length, 8, found.join('\n'));
  });
});
