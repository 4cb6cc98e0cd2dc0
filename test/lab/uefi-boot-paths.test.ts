// Two UEFI boot paths on real firmware, one lab run with a VM each, both hosts reprovisioned through their BMC to
// `provisioned`:
//   http-1 (lab firmware `uefi-http`): OVMF with its PXE turned off asks for a URL (vendor class HTTPClient, arch
//          16), the agent answers with its /boot/ URL of ipxe.efi, the firmware fetches iPXE over HTTP, and from
//          there the usual chain (iPXE script, kernel, tiny initrd, checkpoint). The boot events must show the first
//          program came over HTTP, with no TFTP transfer at all.
//   sb-1   (lab firmware `uefi-secure`, `secure_boot: true` in the SoT): OVMF with Secure Boot enforced and
//          Microsoft's keys; the agent answers with Debian's signed shim over TFTP, shim loads the signed GRUB
//          netboot image, GRUB reads the agent's bootstrap and then the host's own config, and loads Debian's
//          signed kernel and the tiny initrd over TFTP (sot/FORMAT.md "Boot loader"). The same boot steps as iPXE's:
//          the config fetch as the script step, kernel, initrd, checkpoint.
//   sb-bad (lab firmware `uefi-secure`, NOT `secure_boot` in the SoT): the same firmware is offered the unsigned
//          ipxe.efi, fetches it whole over TFTP and refuses to run it ("Access Denied"), asking for nothing more.
//          The host fails at netboot/ipxe, and its message says what it got last and that it went no further
//          (workflows/stall-reason.ts). One attempt and a short script step keep it cheap; it runs beside the
//          other two, whose rollout goes on (every host starts at once), and ends `failed` with two provisioned.
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
import { assertGrubChainBoot } from './grub-chain-checks.ts';

requireLabRoot();

const tag = `${process.pid % 100000}`;
const P = '10.77.57';
const MAC = '52:54:00:77:57:0a';
const SB_MAC = '52:54:00:77:57:0b';
const BAD_MAC = '52:54:00:77:57:0c';
/** The script step's timeout: the negative host waits it out once (the others need seconds). */
const IPXE_TIMEOUT_S = 45;

describe('lab, UEFI HTTP boot and Secure Boot through shim and GRUB', { timeout: 420_000 }, () => {
  let run: LabRun;
  let r: ScenarioReport;

  before(async () => {
    run = await runLab({
      name: `vql${tag}h`,
      prefix: P,
      dhcpMode: 'server',
      vms: [
        { name: 'http-1', firmware: 'uefi-http', mac: MAC, ipv4: `${P}.10` },
        { name: 'sb-1', firmware: 'uefi-secure', mac: SB_MAC, ipv4: `${P}.11` },
        { name: 'sb-bad', firmware: 'uefi-secure', mac: BAD_MAC, ipv4: `${P}.12`, secureBoot: false },
      ],
      // One attempt: the negative host fails once, at its script step, and is powered off (on_failure).
      powerRetries: 0,
      timeouts: { ipxe: IPXE_TIMEOUT_S },
      // GRUB fetches the 8 MB kernel by TFTP in lock-step 1 KB blocks: slow under TCG on a busy machine.
      rolloutTimeoutS: 300,
      timeoutMs: 360_000,
    });
    assert.ok(run.report, `no report from the scenario: ${explainRun(run)}`);
    r = run.report;
  });

  it('reprovisions both signed-path hosts to provisioned, fails the unsigned one, and leaves nothing behind', () => {
    assert.equal(r.rollout?.provisioned, 2, explainRun(run));
    assert.equal(r.rollout?.failed, 1, explainRun(run));
    assert.equal(r.rollout?.state, 'failed', explainRun(run));
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

  it('Secure Boot: shim over TFTP, then signed GRUB, its config, kernel and initrd by TFTP, then the tiny OS', (t) => {
    const h = r.hosts.find((x) => x.name === 'sb-1');
    t.diagnostic(JSON.stringify(h?.boot?.firstAt));
    assertGrubChainBoot(run, h, {
      shim: 'shimx64.efi',
      grub: 'grubx64.efi',
      ip: `${P}.11`,
      mac: SB_MAC,
      agent: `${P}.1`,
    });
  });

  it('Secure Boot refuses the unsigned iPXE: the host fails at its script step saying what it got last', (t) => {
    const h = r.hosts.find((x) => x.name === 'sb-bad');
    assert.ok(h?.boot, explainRun(run));
    t.diagnostic(JSON.stringify(h.boot.firstAt));
    assert.equal(h.status?.state, 'failed', explainRun(run));
    assert.equal(h.status?.stage, 'netboot/ipxe', explainRun(run));
    const ip = `${P}.12`;
    const events = h.boot.events;
    const dhcp = events.filter((e) => e.kind === 'dhcp').map((e) => e.detail);
    // Not marked secure_boot: offered the unsigned iPXE, as any UEFI PXE host is.
    assert.deepEqual(
      dhcp.filter((d, i) => d !== dhcp[i - 1]),
      [`DHCPOFFER ${ip} ipxe.efi`, `DHCPACK ${ip} ipxe.efi`],
      explainRun(run),
    );
    const tftp = events.filter((e) => e.kind === 'tftp').map((e) => e.detail);
    assert.ok(
      tftp.length > 0 && tftp.every((d) => /^TFTP ipxe\.efi sent \(\d+ bytes\)$/.test(d)),
      tftp.join(' | '),
    );
    // The firmware refused it; nothing of iPXE ever ran.
    assert.match(h.machine.serial, /Access Denied/);
    assert.doesNotMatch(h.machine.serial, /iPXE initialising/);
    const why = new RegExp(
      `^no ipxe within ${IPXE_TIMEOUT_S}s \\(attempt 1/1\\); the host got tftp ipxe\\.efi \\(\\d+ KB, complete\\) and asked for nothing after it: its firmware did not run it \\(Secure Boot refuses unsigned loaders\\)$`,
    );
    const timeouts = h.status?.timeline.filter((e) => e.kind === 'timeout').map((e) => e.message) ?? [];
    assert.equal(timeouts.length, 1, JSON.stringify(timeouts));
    assert.match(timeouts[0]!, why);
    // The host's (and the rollout's) error carries it.
    assert.ok(h.status?.lastError?.includes(timeouts[0]!), h.status?.lastError);
    assert.match(h.status?.lastError ?? '', /^netboot stalled at netboot\/ipxe: /);
    assert.equal(h.status?.powerCycles, 1);
  });
});
