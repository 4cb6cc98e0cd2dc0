// The network side of a simulated host that boots through a real agent: it fetches what a PXE ROM, iPXE and an
// installer fetch — the boot file over TFTP, its iPXE script over HTTP, the kernel and initrds the script names,
// its unattended config, optionally its installer log (posted with the checkpoint's token), and finally the
// checkpoint URL found in what it was served — so the agent observes a
// real boot and reports it, exactly as it would for hardware.
import { request as httpRequest } from 'node:http';
import { tftpGet } from './tftp-client.ts';

export interface AgentEndpoints {
  /** Base URL of the agent's HTTP service. */
  http: string;
  /**
   * The agent URL the SoT names (what rendered scripts point at), mapped to `http` — like a route to the
   * agent's address on a real network.
   */
  sotHttpUrl?: string;
  tftp?: { host: string; port: number };
  /**
   * Performs the DHCP exchange (sim/sim-dhcp-relay.ts relays it to the agent); resolves with what the agent
   * acknowledged (the boot file name or URL). Without it the boot starts at TFTP.
   */
  dhcp?: (mac: string, client?: 'pxe-rom' | 'ipxe') => Promise<{ bootFile?: string }>;
  /** The simulated installer posts a few log lines (simInstallerLog) to the agent before its checkpoint. */
  installerLog?: boolean;
}

export type SimBootStep = 'dhcp' | 'tftp' | 'ipxe' | 'kernel' | 'config' | 'checkpoint';

export interface NetworkBootOptions {
  mac: string;
  /** Stop before this step (the `stall_at` knob). */
  stallAt?: SimBootStep;
  /** Between steps, as the sim's delays say. */
  wait: (step: SimBootStep) => Promise<void>;
  /** True when a newer power cycle made this boot obsolete. */
  cancelled: () => boolean;
}

const CHECKPOINT = /\/checkpoint\/[A-Za-z0-9_-]+/;

/** A loopback source address per host (127.x.y.z from the MAC), so the agent can tell sim hosts apart by IP. */
export function simSourceAddress(mac: string): string {
  const b = mac
    .split(':')
    .slice(3)
    .map((h) => parseInt(h, 16));
  return `127.${b[0]}.${b[1]}.${Math.max(1, b[2]!)}`;
}

/** The lines a simulated installer posts to the agent before it calls its checkpoint, as a real one would. */
export function simInstallerLog(mac: string): string[] {
  return [
    `sim installer on ${mac}: partitioning`,
    `sim installer on ${mac}: installing`,
    'sim installer: done',
  ];
}

function post(url: string, localAddress: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'POST', localAddress, timeout: 10_000, headers: { 'content-type': 'text/plain' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${url}: timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

function get(url: string, localAddress: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { localAddress, timeout: 10_000 }, (res) => {
      // Kernels and initrds can be large; a simulated host keeps only the small texts it must read.
      const keep = /\/(ipxe|config\/|checkpoint\/)/.test(url);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => keep && chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Runs one simulated network boot; resolves with the steps it completed. */
export async function simulateNetworkBoot(
  agent: AgentEndpoints,
  o: NetworkBootOptions,
): Promise<SimBootStep[]> {
  const done: SimBootStep[] = [];
  const src = simSourceAddress(o.mac);
  const route = (url: string) =>
    agent.sotHttpUrl && url.startsWith(agent.sotHttpUrl)
      ? agent.http + url.slice(agent.sotHttpUrl.length)
      : url;
  const fetchText = (url: string) => get(route(url), src);
  const step = async (s: SimBootStep, run: () => Promise<void>): Promise<boolean> => {
    if (o.stallAt === s || o.cancelled()) return false;
    await o.wait(s);
    if (o.cancelled()) return false;
    await run();
    done.push(s);
    return true;
  };
  let bootFile = 'undionly.kpxe';
  if (
    agent.dhcp &&
    !(await step('dhcp', async () => {
      const offer = await agent.dhcp!(o.mac);
      if (offer.bootFile) bootFile = offer.bootFile;
    }))
  )
    return done;
  // A ROM that is handed an HTTP URL (iPXE itself) skips TFTP, as real iPXE does.
  if (
    agent.tftp &&
    !/^https?:/.test(bootFile) &&
    !(await step('tftp', async () => {
      await tftpGet(agent.tftp!.host, agent.tftp!.port, bootFile, { localAddress: src });
    }))
  )
    return done;
  let script = '';
  if (
    !(await step('ipxe', async () => {
      // Like real iPXE: it asks DHCP again and fetches the script URL it is given, which carries the boot
      // credential that ties this fetch (from a loopback address, not the leased one) to the host.
      let url = /^https?:/.test(bootFile) ? bootFile : undefined;
      if (!url && agent.dhcp) url = (await agent.dhcp(o.mac, 'ipxe')).bootFile;
      url ??= `${agent.http}/ipxe?mac=${o.mac}`;
      const r = await fetchText(url);
      if (r.status !== 200) throw new Error(`agent gave no iPXE script (HTTP ${r.status})`);
      script = r.text;
    }))
  )
    return done;
  if (
    !(await step('kernel', async () => {
      for (const line of script.split('\n')) {
        const m = /^(kernel|initrd)\s+(\S+)/.exec(line.trim());
        if (m) await fetchText(m[2]!);
      }
    }))
  )
    return done;
  // The installer fetches its unattended config; a boot without one gets a 404 and goes on.
  let config = '';
  if (
    !(await step('config', async () => {
      const r = await fetchText(`${agent.http}/config/${o.mac}`);
      if (r.status === 200) config = r.text;
    }))
  )
    return done;
  await step('checkpoint', async () => {
    const path = CHECKPOINT.exec(script)?.[0] ?? CHECKPOINT.exec(config)?.[0];
    if (!path)
      throw new Error('nothing it was served names a checkpoint URL, so the installed OS cannot call back');
    // Its installer log first, to the same token (an agent that takes no posts answers 404: the boot goes on).
    if (agent.installerLog)
      await post(
        `${agent.http}${path.replace('/checkpoint/', '/log/')}`,
        simSourceAddress(o.mac),
        simInstallerLog(o.mac).join('\n') + '\n',
      ).catch(() => undefined);
    const r = await fetchText(`${agent.http}${path}`);
    if (r.status !== 200) throw new Error(`checkpoint refused (HTTP ${r.status})`);
  });
  return done;
}
