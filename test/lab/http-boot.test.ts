// UEFI HTTP boot on real firmware: OVMF with its PXE turned off (lab firmware `uefi-http`) asks for a URL
// (vendor class HTTPClient, arch 16), the agent answers with its /boot/ URL of ipxe.efi, the firmware fetches
// iPXE over HTTP, and from there the usual chain (iPXE script, kernel, tiny initrd, checkpoint). One VM, the
// host reprovisioned through its BMC to `provisioned`; the boot events must show the first program came over
// HTTP, with no TFTP transfer at all.
//
// An earlier attempt saw OVMF print "Could not retrieve NBP file size from HTTP server. Error: Server response
// timeout" with no request in the agent's log. EDK2 prints that when its size probe (a HEAD, 5 s response timeout)
// gets no answer at all: nothing reached the agent's HTTP service, i.e. the URL's address or port was not where
// the agent listens. The agent's answer was checked against that here: the URL is the agent's own http_url
// (public_url, else its SoT entry, else its DHCP interface's address) with /boot/<file>, IP-literal (no DNS
// needed), option 60 "HTTPClient" echoed; the HEAD and the GET arrive and are answered with Content-Length. It
// boots in server mode and beside kea in proxy mode, with OVMF.fd and with OVMF_CODE_4M.fd (pflash), and needs
// no entropy device. So the failure came from the attempt's own setup, not from the agent.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { LabRun } from '../../lab/run.ts';
import { runLab } from '../../lab/run.ts';
import type { ScenarioReport } from '../../lab/scenario.ts';
import { TINY_MARKERS } from '../../lab/tiny-initrd.ts';
import { requireLabRoot } from '../../lab/topology.ts';
import { explainRun } from './explain-run.ts';

requireLabRoot();

const tag = `${process.pid % 100000}`;
const P = '10.77.57';
const MAC = '52:54:00:77:57:0a';

describe('lab, UEFI HTTP boot: OVMF fetches iPXE from the agent by URL', { timeout: 300_000 }, () => {
  let run: LabRun;
  let r: ScenarioReport;

  before(async () => {
    run = await runLab({
      name: `vql${tag}h`,
      prefix: P,
      dhcpMode: 'server',
      vms: [{ name: 'http-1', firmware: 'uefi-http', mac: MAC, ipv4: `${P}.10` }],
      timeoutMs: 200_000,
    });
    assert.ok(run.report, `no report from the scenario: ${explainRun(run)}`);
    r = run.report;
  });

  it('reprovisions the host to provisioned and leaves nothing behind', () => {
    assert.equal(r.ok, true, explainRun(run));
    assert.equal(r.rollout?.provisioned, 1);
    assert.deepEqual(run.left, { pids: [], namespaces: [] });
    assert.deepEqual(run.killedLeftovers, []);
  });

  it('the first program came over HTTP: an HTTPClient answer with a URL, no TFTP transfer', (t) => {
    const h = r.hosts.find((x) => x.name === 'http-1');
    assert.ok(h?.boot, explainRun(run));
    t.diagnostic(JSON.stringify(h.boot.firstAt));
    assert.equal(h.status?.state, 'provisioned', explainRun(run));
    const events = h.boot.events;
    const ip = `${P}.10`;
    const url = `http://${P}.1:8080/boot/ipxe.efi`;
    const script = `http://${P}.1:8080/ipxe?mac=${MAC}`;
    // The firmware is offered its address and the URL of iPXE (with HTTPClient, or it ignores the offer); iPXE its
    // script URL; the tiny OS an address only.
    const dhcp = events.filter((e) => e.kind === 'dhcp').map((e) => e.detail);
    assert.deepEqual(
      dhcp.filter((d, i) => d !== dhcp[i - 1]),
      [
        `DHCPOFFER ${ip} ${url}`,
        `DHCPACK ${ip} ${url}`,
        `DHCPOFFER ${ip} ${script}`,
        `DHCPACK ${ip} ${script}`,
        `DHCPOFFER ${ip}`,
        `DHCPACK ${ip}`,
      ],
      explainRun(run),
    );
    // The firmware's fetch is the first-stage (tftp) step; the agent says it went over HTTP. No TFTP at all.
    const firstStage = events.filter((e) => e.kind === 'tftp').map((e) => e.detail);
    assert.deepEqual(firstStage, ['HTTP boot ipxe.efi'], 'one first-stage fetch, over HTTP');
    assert.ok(
      events.every((e) => !/^TFTP /.test(e.detail)),
      'no TFTP transfer at all',
    );
    assert.deepEqual(
      h.boot.sequence,
      ['dhcp', 'tftp', 'dhcp', 'ipxe', 'kernel', 'initrd', 'dhcp', 'checkpoint'],
      explainRun(run),
    );
    assert.ok(h.machine.serial.includes(`URI: ${url}`), 'the firmware took the URL as it was given');
    assert.match(h.machine.serial, /Start HTTP Boot over IPv4/);
    assert.match(h.machine.serial, new RegExp(TINY_MARKERS.callbackOk));
  });
});
