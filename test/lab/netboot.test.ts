// The real-hardware proof of the agent and of the IPMI power path, on QEMU (TCG) in network namespaces:
// each host workflow's power stage asks ipmi_sim (through the agent's ipmi driver) to boot from the network
// and power on; ipmi_sim's chassis hook starts the VM; the VM boots through the agent (DHCP, TFTP where the
// firmware needs it, iPXE script, kernel, tiny initrd) and the tiny OS calls its checkpoint. Everything runs
// inside namespaces the lab makes (lab/run.ts), and the test checks that no process and no namespace is left.
// In server mode both boots serve the lab's unattended config, whose join token is a secret reference: the tiny
// OS must be served the value from the agent's store, and afterwards every workflow history of the run, dumped
// with the `temporal` CLI from the run's Temporal data, must hold neither that value nor the rendered config.
// Each run holds its lab for a moment after the rollout: Chromium opens a VM's page on the lab's dashboard (the
// lab's `vaquero server`, forwarded to the host's loopback) and the page must show what the VM's boot did.
// The server-mode VMs have a disk: the tiny installer writes the lab's installed system to it before it calls back,
// and after the rollout each VM is powered on through its BMC with ipmitool, as an operator would: the BMC has
// used up the rollout's one-time PXE override, so the VM boots its disk (GRUB for BIOS and for UEFI), and the
// installed system reports to the lab with no DHCP, TFTP or HTTP boot request reaching the agent.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { secretPlaceholder } from '../../domain/secret.ts';
import type { LabRun } from '../../lab/run.ts';
import { runLab } from '../../lab/run.ts';
import type { DiskBootHost, ScenarioHost, ScenarioReport } from '../../lab/scenario.ts';
import { LAB_JOIN_TOKEN_REF } from '../../lab/sot.ts';
import { DISK_CMDLINE, DISK_MARKERS } from '../../lab/disk-image.ts';
import { TINY_MARKERS } from '../../lab/tiny-initrd.ts';
import { requireLabRoot } from '../../lab/topology.ts';
import { explainRun } from './explain-run.ts';
import { assertNoSecretInHistories, runJoinToken } from './history-secrets.ts';
import { viewLabHost } from './lab-dashboard.ts';
import type { HostPageView, LabDashboardView } from './lab-dashboard.ts';

requireLabRoot();

const tag = `${process.pid % 100000}`;

const explain = explainRun;

function host(r: ScenarioReport, name: string): ScenarioHost {
  const h = r.hosts.find((x) => x.name === name);
  assert.ok(h, `no report for ${name}`);
  return h;
}

/** Event kinds in the order the host workflow recorded them, consecutive repeats collapsed. */
function sequence(h: ScenarioHost): string[] {
  return h.boot?.sequence ?? [];
}

/** Consecutive repeats collapsed: a client that retransmits (a slow answer under TCG) is the same step. */
function distinct(list: string[]): string[] {
  return list.filter((x, i) => x !== list[i - 1]);
}

function dhcpDetails(h: ScenarioHost): string[] {
  return distinct(h.boot!.events.filter((e) => e.kind === 'dhcp').map((e) => e.detail));
}

/** Seconds from the VM's start to the first event of each kind, for the test log. */
function timings(h: ScenarioHost): string {
  const first = Object.entries(h.boot?.firstAt ?? {}).map(([k, v]) => `${k} ${v}s`);
  return `${h.name} (${h.machine.firmware}): ${first.join(', ')}; power stage to provisioned ${h.boot?.powerToProvisionedS}s`;
}

/** The browser step of a held run: what it saw, or why it saw nothing. */
function dashboardOf(run: LabRun, view: LabDashboardView | undefined): LabDashboardView {
  assert.equal(run.held, true, `the lab was never held for the browser: ${explain(run)}`);
  if (run.heldError !== undefined) throw run.heldError;
  assert.ok(view);
  return view;
}

/** The page's boot event rows (`<kind> from <agent>: <detail>`), as the host workflow noted them. */
function pageEvents(p: HostPageView): string[] {
  return p.timeline.filter((r) => r.kind === 'event').map((r) => r.what);
}

/** Each pattern matches some row, in this order. */
function assertRowsInOrder(rows: string[], patterns: RegExp[], what: string): void {
  let at = 0;
  for (const re of patterns) {
    const i = rows.findIndex((r, j) => j >= at && re.test(r));
    assert.ok(i >= 0, `${what}: no row ${re} after row ${at}:\n${rows.join('\n')}`);
    at = i + 1;
  }
}

function assertCleanedUp(run: LabRun): void {
  assert.deepEqual(run.left, { pids: [], namespaces: [] }, 'every process and namespace of the run is gone');
  assert.deepEqual(run.killedLeftovers, [], 'the scenario itself ended everything it started');
}

/**
 * The hook log shows the workflow's power stage at work: boot device set to PXE, then power on, then the VM.
 * `powerOns`: the boot device of every power-on of the run (the rollout's first).
 */
function assertPoweredByWorkflow(h: ScenarioHost, powerOns = ['pxe']): void {
  const sets = h.machine.powerLog.map((p) => p.what);
  const bootAt = sets.indexOf('set boot pxe');
  const onAt = sets.indexOf('set power 1');
  const vmAt = sets.findIndex((s) => /^vm start pid=\d+ boot=pxe$/.test(s));
  assert.ok(bootAt >= 0 && bootAt < onAt && onAt < vmAt, `power log: ${sets.join(' | ')}`);
  assert.deepEqual(h.machine.powerOns, powerOns, 'powered on by the rollout once, to boot from the network');
  const powerStage = h.status!.timeline.find((e) => e.stage === 'power' && e.kind === 'stage')!;
  const vmStart = h.machine.powerLog[vmAt]!.at;
  assert.ok(vmStart >= powerStage.at, 'the VM started only after the workflow entered its power stage');
  assert.ok(
    h.status!.timeline.some(
      (e) => e.kind === 'power' && /next boot Force PXE \(once\), power turned on, now on/.test(e.message),
    ),
    'the power stage read back both the boot override and the power state',
  );
}

function assertTinyOsCalledBack(h: ScenarioHost): void {
  assert.match(
    h.machine.serial,
    new RegExp(`${TINY_MARKERS.cmdline} .*callback=http://\\S+/checkpoint/\\S+`),
  );
  assert.match(h.machine.serial, new RegExp(TINY_MARKERS.callbackOk));
}

describe(
  'lab, agent in server mode: BIOS and UEFI VMs powered on through ipmi_sim, then booted from their disks',
  { timeout: 360_000 },
  () => {
    let run: LabRun;
    let r: ScenarioReport;
    let dashboard: LabDashboardView | undefined;

    before(async () => {
      run = await runLab({
        name: `vql${tag}s`,
        prefix: '10.77.50',
        dhcpMode: 'server',
        vms: [
          { name: 'bios-1', firmware: 'bios', mac: '52:54:00:77:50:0a', ipv4: '10.77.50.10', disk: true },
          { name: 'uefi-1', firmware: 'uefi', mac: '52:54:00:77:50:0b', ipv4: '10.77.50.11', disk: true },
        ],
        bootTasks: { 'tiny-a': { unattended: true }, 'tiny-b': { unattended: true } },
        bootFromDisk: true,
        // Kept for the histories (the run's Temporal data) and the agent's join token; removed after.
        keepDir: true,
        timeoutMs: 260_000,
        whileHeld: async (ready) => {
          dashboard = await viewLabHost(ready, 'lab', 'bios-1');
        },
      });
      assert.ok(run.report, `no report from the scenario: ${explain(run)}`);
      r = run.report;
    });
    after(() => (run ? rm(run.dir, { recursive: true, force: true }) : undefined));

    it('finishes the rollout with both hosts provisioned, and leaves nothing behind', () => {
      assert.equal(r.ok, true, explain(run));
      assert.equal(r.rollout?.state, 'completed');
      assert.equal(r.rollout?.provisioned, 2);
      assertCleanedUp(run);
    });

    for (const [name, firmware] of [
      ['bios-1', 'bios'],
      ['uefi-1', 'uefi'],
    ] as const) {
      it(`${firmware}: the power stage boots the VM, whose every boot event reaches its workflow in order`, (t) => {
        const h = host(r, name);
        t.diagnostic(timings(h));
        assert.equal(h.status?.state, 'provisioned', explain(run));
        // Then the operator's power-on after the rollout, which boots the disk (the machine's own order).
        assertPoweredByWorkflow(h, ['pxe', 'default']);
        // The iPXE ROM asks for its script over HTTP straight from the DHCP answer: no TFTP in this boot. Then the
        // tiny OS takes its own lease and fetches its config before it calls back.
        assert.deepEqual(
          sequence(h),
          ['dhcp', 'ipxe', 'kernel', 'initrd', 'dhcp', 'config', 'checkpoint'],
          explain(run),
        );
        const ip = name === 'bios-1' ? '10.77.50.10' : '10.77.50.11';
        const script = `http://10.77.50.1:8080/ipxe?mac=${h.machine.mac}`;
        // iPXE is offered its reserved address and its script URL; the tiny OS the same address, no boot file.
        assert.deepEqual(dhcpDetails(h), [
          `DHCPOFFER ${ip} ${script}`,
          `DHCPACK ${ip} ${script}`,
          `DHCPOFFER ${ip}`,
          `DHCPACK ${ip}`,
        ]);
        const kinds = h.boot!.events.map((e) => e.kind);
        assert.equal(kinds.filter((k) => k === 'checkpoint').length, 1);
        assert.equal(h.boot!.events.find((e) => e.kind === 'kernel')?.detail, '/assets/linux');
        assert.equal(h.boot!.events.find((e) => e.kind === 'initrd')?.detail, '/assets/tiny-initrd.gz');
        assertTinyOsCalledBack(h);
        assert.match(h.machine.serial, firmware === 'bios' ? /iPXE/ : /iPXE .*EFI|net0: .* using/);
      });
    }

    it('after provisioned, a power-on through the BMC boots the installed system from disk, with no network boot', (t) => {
      const step = r.diskBoot;
      assert.ok(step, explain(run));
      t.diagnostic(
        `boot from disk took ${step.seconds}s; agent counters during it: ${JSON.stringify(step.agentDelta)}`,
      );
      for (const [name, ip, platform] of [
        ['bios-1', '10.77.50.10', 'pc'],
        ['uefi-1', '10.77.50.11', 'efi'],
      ] as const) {
        const h = host(r, name);
        const d: DiskBootHost | undefined = step.hosts[name];
        assert.ok(d, `${name}: not in the boot-from-disk step`);
        // The installer wrote the disk before it called its checkpoint.
        const written = h.machine.serial.indexOf(TINY_MARKERS.diskWritten);
        assert.ok(
          written >= 0 && written < h.machine.serial.indexOf(TINY_MARKERS.callbackOk),
          `${name}: ${h.machine.serial
            .split('\n')
            .filter((l) => l.startsWith('TINY:'))
            .join(' | ')}`,
        );
        // The rollout's override was one-time: the boot that used it cleared it, so the BMC boots the machine's
        // own order.
        assert.match(d.bootFlagsBefore, /Boot Flag Invalid/, d.bootFlagsBefore);
        assert.match(d.bootFlagsBefore, /No override/, d.bootFlagsBefore);
        assert.equal(d.bootDevice, 'default');
        // GRUB from the disk, the installed kernel command line, the system's report from its own address.
        assert.ok(d.serial.includes(`${DISK_MARKERS.grub} ${platform}`), `${name}: ${d.serial}`);
        if (platform === 'pc') assert.match(d.serial, /Booting from Hard Disk/);
        assert.ok(
          d.serial.includes(`${DISK_MARKERS.booted} `) && d.serial.includes(DISK_MARKERS.reportOk),
          d.serial,
        );
        assert.ok(d.report, `${name}: no report from its installed system`);
        assert.equal(d.report.mac, h.machine.mac);
        assert.equal(d.report.from, ip);
        assert.ok(d.report.cmdline.endsWith(DISK_CMDLINE), d.report.cmdline);
        assert.ok(!d.report.cmdline.includes('callback='), 'the installed system is not the netbooted one');
        // Nothing of a network boot: no boot event on the host's workflow after the power-on.
        assert.deepEqual(d.newBootEvents, []);
      }
      // And no boot request reached the agent at all: no DHCP packet, no TFTP transfer, no HTTP request, no boot
      // event. The only observations it made are the netboot's last installer log summaries, which it sends on a
      // timer, after the run (so of no open gate).
      const { ungated, logSummaries, ...requests } = step.agentDelta;
      assert.deepEqual(requests, { dhcpReceived: 0, tftpStarted: 0, httpRequests: 0, recorded: 0 });
      assert.equal(ungated, logSummaries, JSON.stringify(step.agentDelta));
    });

    it("each VM is served its config with the join token resolved from the agent's store", async () => {
      const token = await runJoinToken(run);
      const fingerprint = createHash('sha256').update(token).digest('hex');
      for (const name of ['bios-1', 'uefi-1']) {
        const h = host(r, name);
        assert.match(h.machine.serial, new RegExp(`${TINY_MARKERS.config} \\d+ bytes`), explain(run));
        // The tiny OS prints the sha256 of the join_token= it was served: the value, not the reference.
        assert.ok(
          h.machine.serial.includes(`${TINY_MARKERS.joinToken} ${fingerprint}`),
          `${name}: ${h.machine.serial
            .split('\n')
            .filter((l) => l.startsWith('TINY:'))
            .join(' | ')}`,
        );
        assert.ok(h.boot!.events.some((e) => e.kind === 'config'));
        // What the workflow handed the agent is the reference.
        assert.ok(h.openGate?.artifacts?.config?.text.includes(secretPlaceholder(LAB_JOIN_TOKEN_REF)));
        assert.ok(!JSON.stringify(h.openGate).includes(token));
      }
    });

    it("the tiny installer's boot log reaches the agent over syslog and HTTP; the history holds a bounded summary", () => {
      const h = host(r, 'bios-1');
      assert.ok(h.machine.serial.includes(TINY_MARKERS.logSyslog), explain(run));
      assert.ok(h.machine.serial.includes(TINY_MARKERS.logPosted), explain(run));
      const lines = h.installerLog?.lines ?? [];
      const via = (transport: string) => lines.filter((l) => l.transport === transport);
      // The same boot log both ways: the init's first lines, from the host's address, by the lab's agent.
      for (const transport of ['syslog', 'http']) {
        const got = via(transport);
        assert.ok(
          got.some((l) => l.text === TINY_MARKERS.start) &&
            got.some((l) => l.text.startsWith(TINY_MARKERS.lease)),
          `${transport}: ${JSON.stringify(lines)}`,
        );
        assert.ok(got.every((l) => l.from === '10.77.50.10' && l.agent === 'lab-agent'));
      }
      assert.ok(via('syslog').every((l) => l.app === 'tiny'));
      assert.ok(via('syslog').some((l) => l.severity === 3 && l.text.includes('an error, on purpose')));
      // The command line (which holds the run's token) is not in the log.
      assert.ok(!lines.some((l) => l.text.includes('/checkpoint/')));
      // The workflow: short summaries, a bounded number, counting no more lines than the agent kept.
      const logs = h.boot!.logs;
      assert.ok(logs.length >= 1 && logs.length <= 30, JSON.stringify(logs));
      let counted = 0;
      for (const e of logs) {
        assert.ok(Buffer.byteLength(e.detail) < 400, e.detail);
        const m = /^(\d+) installer log lines? \(([a-z, ]+)\), (\d+) errors?; last: /.exec(e.detail);
        assert.ok(m, e.detail);
        counted += Number(m[1]);
      }
      assert.ok(counted >= 1 && counted <= lines.length, `${counted} counted, ${lines.length} kept`);
      assert.equal(h.installerLog!.agents[0]!.received, lines.length);
    });

    it("the lab's dashboard, in Chromium: bios-1's page shows its boot events and installer log lines; a read token gets no action buttons", (t) => {
      const v = dashboardOf(run, dashboard);
      t.diagnostic(`screenshots: ${v.read.screenshot}, ${v.operate.screenshot}`);
      assert.ok(v.fleetLinksHost, 'the fleet page links to the host');
      assert.match(v.read.who, /lab-read \(read\)/);
      assert.match(v.operate.who, /lab \(operate\)/);
      assert.equal(v.read.actionButtons, 0, 'a read token gets no action buttons');
      const h = host(r, 'bios-1');
      const workflowEvents = h.status!.timeline.filter((e) => e.kind === 'event').map((e) => e.message);
      for (const p of [v.read, v.operate]) {
        assert.equal(p.state, 'provisioned');
        // Every boot event of the run, as the workflow holds it, is on the page: DHCP, the iPXE script, kernel,
        // initrd and config over HTTP, the checkpoint, the installer log summaries.
        assert.deepEqual(pageEvents(p), workflowEvents);
        assertRowsInOrder(
          pageEvents(p),
          [
            /^dhcp from lab-agent: DHCPACK 10\.77\.50\.10 http:\/\/10\.77\.50\.1:8080\/ipxe\?mac=/,
            /^ipxe from lab-agent/,
            /^kernel from lab-agent: \/assets\/linux/,
            /^initrd from lab-agent: \/assets\/tiny-initrd\.gz/,
            /^dhcp from lab-agent: DHCPACK 10\.77\.50\.10$/,
            /^config from lab-agent/,
            /^checkpoint from lab-agent/,
          ],
          'boot events',
        );
        assert.ok(
          pageEvents(p).some((e) => /^log from lab-agent: \d+ installer log lines? /.test(e)),
          pageEvents(p).join('\n'),
        );
        assert.ok(p.timeline.some((e) => e.kind === 'power' && /power turned on/.test(e.what)));
        // The installer's lines themselves, both ways, from the VM's address: as the agent keeps them.
        for (const via of ['syslog', 'http']) {
          const lines = p.installerLog.filter((l) => l.via === via);
          assert.ok(
            lines.some((l) => l.line === TINY_MARKERS.start) &&
              lines.some((l) => l.line.startsWith(TINY_MARKERS.lease)),
            `${via}: ${JSON.stringify(p.installerLog)}`,
          );
          assert.ok(lines.every((l) => l.from === '10.77.50.10'));
        }
        assert.ok(
          p.installerLog.some(
            (l) => l.via === 'syslog' && l.severity === 'err' && l.line.includes('an error, on purpose'),
          ),
        );
        assert.equal(p.installerLog.length, h.installerLog!.lines.length);
      }
    });

    it('no workflow history of the run holds the join token or the rendered config', (t) =>
      assertNoSecretInHistories(t, run, { site: 'lab', configHosts: ['bios-1', 'uefi-1'] }));

    it('the site model reached the agent before any host started, and the open gate carried the reservation', () => {
      const tl = r.rolloutTimeline ?? [];
      const published = tl.findIndex(
        (e) => e.kind === 'site-model' && /^site lab: model published/.test(e.message),
      );
      const firstHost = tl.findIndex((e) => e.kind === 'host-started');
      assert.ok(published >= 0 && published < firstHost, tl.map((e) => `${e.kind}: ${e.message}`).join('\n'));
      const reservations = r.siteModel?.reservations.map((x) => [x.host, x.mac, x.ipv4]);
      assert.deepEqual(reservations?.sort(), [
        ['bios-1', '52:54:00:77:50:0a', '10.77.50.10'],
        ['uefi-1', '52:54:00:77:50:0b', '10.77.50.11'],
      ]);
      assert.equal(r.siteModel?.dhcpMode, 'server');
      for (const name of ['bios-1', 'uefi-1']) {
        const h = host(r, name);
        assert.equal(h.openGate?.open, true);
        assert.equal(h.openGate?.ipv4, name === 'bios-1' ? '10.77.50.10' : '10.77.50.11');
        assert.equal(h.openGate?.subnet, 'lab-net');
        assert.match(
          h.openGate?.artifacts?.ipxe ?? '',
          /^kernel http:\/\/10\.77\.50\.1:8080\/assets\/linux initrd=tiny-initrd\.gz console=ttyS0 quiet panic=-1 callback=/m,
        );
        assert.equal(h.gate?.open, false, 'the gate is closed once provisioned');
      }
      const dhcp = r.agent?.services.dhcp as Record<string, number> | undefined;
      // Two clients (iPXE, then the tiny OS) per VM, DISCOVER and REQUEST each, every packet answered.
      assert.ok(dhcp && dhcp.offers! >= 4 && dhcp.acks! >= 4, JSON.stringify(dhcp));
      assert.equal(dhcp.received, dhcp.offers! + dhcp.acks!, JSON.stringify(dhcp));
    });
  },
);

describe(
  'lab, agent in proxy mode beside kea: EDK2 native PXE asks the agent on 4011',
  { timeout: 300_000 },
  () => {
    let run: LabRun;
    let r: ScenarioReport;
    let dashboard: LabDashboardView | undefined;

    before(async () => {
      run = await runLab({
        name: `vql${tag}p`,
        prefix: '10.77.51',
        dhcpMode: 'proxy',
        keaPool: ['10.77.51.200', '10.77.51.220'],
        vms: [{ name: 'edk2-1', firmware: 'uefi-pxe', mac: '52:54:00:77:51:0a', ipv4: '10.77.51.10' }],
        timeoutMs: 200_000,
        whileHeld: async (ready) => {
          dashboard = await viewLabHost(ready, 'lab', 'edk2-1');
        },
      });
      assert.ok(run.report, `no report from the scenario: ${explain(run)}`);
      r = run.report;
    });

    it('finishes the rollout and leaves nothing behind', () => {
      assert.equal(r.ok, true, explain(run));
      assert.equal(r.rollout?.provisioned, 1);
      assertCleanedUp(run);
    });

    it('kea gives the address, the agent the boot file: on 67, on 4011 to the EDK2 firmware, then to iPXE', (t) => {
      const h = host(r, 'edk2-1');
      t.diagnostic(timings(h));
      assert.equal(h.status?.state, 'provisioned', explain(run));
      assertPoweredByWorkflow(h);
      const leases = r.kea?.leases ?? [];
      assert.ok(
        leases.length >= 2,
        `kea leased to the firmware, iPXE and the tiny OS: ${JSON.stringify(leases)}`,
      );
      assert.ok(
        leases.every(
          (l) => l.mac === h.machine.mac && l.ip === leases[0]!.ip && l.ip.startsWith('10.77.51.2'),
        ),
      );
      assert.deepEqual(dhcpDetails(h), [
        'proxy offer ipxe.efi',
        'proxy ack ipxe.efi (port 4011)',
        `proxy offer http://10.77.51.1:8080/ipxe?mac=${h.machine.mac}`,
      ]);
      // The firmware fetches iPXE over TFTP (a size probe, then the transfer), iPXE its script over HTTP.
      assert.deepEqual(
        sequence(h),
        ['dhcp', 'tftp', 'dhcp', 'ipxe', 'kernel', 'initrd', 'checkpoint'],
        explain(run),
      );
      assert.ok(
        h.boot!.events.some((e) => e.kind === 'tftp' && /^TFTP ipxe\.efi sent \(\d+ bytes\)$/.test(e.detail)),
      );
      assert.match(h.machine.serial, /Start PXE over IPv4/);
      assert.match(
        h.machine.serial,
        new RegExp(`Station IP address is ${leases[0]!.ip.replace(/\./g, '\\.')}`),
      );
      assertTinyOsCalledBack(h);
      const stats = r.agent?.services.dhcp as Record<string, number | string> | undefined;
      assert.equal(stats?.mode, 'proxy');
      assert.ok(Number(stats?.proxyReplies) >= 3, JSON.stringify(stats));
      assert.equal(stats?.offers, 0, 'a proxy never offers an address');
    });

    it("the lab's dashboard, in Chromium: edk2-1's page shows its proxy DHCP answers, its TFTP transfer and its installer's lines", (t) => {
      const v = dashboardOf(run, dashboard);
      t.diagnostic(`screenshot: ${v.read.screenshot}`);
      assert.equal(v.read.actionButtons, 0);
      const h = host(r, 'edk2-1');
      assert.deepEqual(
        pageEvents(v.read),
        h.status!.timeline.filter((e) => e.kind === 'event').map((e) => e.message),
      );
      assertRowsInOrder(
        pageEvents(v.read),
        [
          /^dhcp from lab-agent: proxy ack ipxe\.efi \(port 4011\)/,
          /^tftp from lab-agent: TFTP ipxe\.efi sent \(\d+ bytes\)$/,
          /^ipxe from lab-agent/,
          /^kernel from lab-agent: \/assets\/linux/,
          /^initrd from lab-agent: \/assets\/tiny-initrd\.gz/,
          /^checkpoint from lab-agent/,
        ],
        'boot events',
      );
      // Its installer's lines too, from the address kea gave it.
      const ip = r.kea!.leases[0]!.ip;
      for (const via of ['syslog', 'http'])
        assert.ok(
          v.read.installerLog.some((l) => l.via === via && l.line === TINY_MARKERS.start && l.from === ip),
          `${via}: ${JSON.stringify(v.read.installerLog)}`,
        );
      assert.equal(v.read.installerLog.length, h.installerLog?.lines.length);
    });
  },
);
