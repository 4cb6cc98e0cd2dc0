// Sim hosts behind Redfish BMCs, for an agent that runs as its own program (a container): such an agent has only
// the drivers its config gives (ipmi, redfish, ssh, container), never the in-process `sim` one. Each sim host
// here gets a small Redfish service of its own on 127.0.0.1:<port> (the redfish driver remembers the system per
// BMC address, so one address per host) that maps the standard calls onto the SimFleet's `sim` driver:
//   GET  /redfish/v1/Systems/<host>                          PowerState, Boot override, the Reset action
//   PATCH /redfish/v1/Systems/<host> {Boot: {...}}           setBootDevice (Once / Continuous / Disabled)
//   POST .../Actions/ComputerSystem.Reset {ResetType}        On, ForceOff, GracefulShutdown, ForceRestart, PowerCycle
// with HTTP basic authentication. A power-on into a network boot makes the sim host boot through the agent's real
// DHCP (through the fleet's relay), TFTP and HTTP (sim/sim-network-boot.ts), so the agent observes and reports it.
import { timingSafeEqual } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import type { BmcTarget, BootDevice, PowerDriver } from '../activities/power/driver.ts';

export interface SimRedfishHost {
  site: string;
  name: string;
  mac: string;
  /** Port on `address` (0: any free one). */
  port: number;
}

export interface SimRedfishBmcs {
  /** host name → the BMC's base URL (http://127.0.0.1:<port>) */
  urls: Record<string, string>;
  /** Requests each BMC served, by host, for the record. */
  requests: Record<string, number>;
  close(): Promise<void>;
}

const TARGETS: Record<string, Exclude<BootDevice, 'other'>> = {
  Pxe: 'network',
  Hdd: 'disk',
  UefiHttp: 'uefi-http',
  None: 'none',
};
const RESET_TYPES = ['On', 'ForceOff', 'GracefulShutdown', 'ForceRestart', 'PowerCycle'] as const;

/** The path of a host's ComputerSystem (the SoT names it with the redfish option `system`). */
export function simSystemPath(host: string): string {
  return `/redfish/v1/Systems/${host}`;
}

function redfishTarget(device: BootDevice): string {
  const found = Object.entries(TARGETS).find(([, d]) => d === device);
  return found ? found[0] : 'None';
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function startSimRedfishBmcs(opts: {
  driver: PowerDriver;
  hosts: SimRedfishHost[];
  username: string;
  password: string;
  address?: string;
}): Promise<SimRedfishBmcs> {
  const address = opts.address ?? '127.0.0.1';
  const expected = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
  const servers: http.Server[] = [];
  const urls: Record<string, string> = {};
  const requests: Record<string, number> = {};
  const close = async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  };
  try {
    for (const h of opts.hosts) {
      const t: BmcTarget = {
        site: h.site,
        host: h.name,
        mac: h.mac,
        bmc: { driver: 'sim', address: `sim://${h.name}`, options: {} },
      };
      const system = simSystemPath(h.name);
      const resetTarget = `${system}/Actions/ComputerSystem.Reset`;
      requests[h.name] = 0;
      const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
        requests[h.name]!++;
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const send = (status: number, json?: unknown) => {
          res.writeHead(status, json === undefined ? {} : { 'Content-Type': 'application/json' });
          res.end(json === undefined ? undefined : JSON.stringify(json));
        };
        const p = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '') || '/';
        const method = req.method ?? 'GET';
        if (p === '/redfish/v1' && method === 'GET')
          return send(200, {
            '@odata.id': '/redfish/v1/',
            Id: 'RootService',
            RedfishVersion: '1.6.0',
            Systems: { '@odata.id': '/redfish/v1/Systems' },
          });
        if (!sameSecret(req.headers.authorization ?? '', expected))
          return send(401, { error: { message: 'authentication required' } });
        let body: Record<string, unknown> = {};
        try {
          body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString()) as typeof body) : {};
        } catch {
          return send(400, { error: { message: 'malformed JSON' } });
        }
        if (p === '/redfish/v1/Systems' && method === 'GET')
          return send(200, { Members: [{ '@odata.id': system }], 'Members@odata.count': 1 });
        if (p === system && method === 'GET') {
          const power = await opts.driver.powerStatus(t);
          const boot = await opts.driver.getBootDevice(t);
          return send(200, {
            '@odata.id': system,
            Id: h.name,
            PowerState: power === 'on' ? 'On' : 'Off',
            Boot: {
              BootSourceOverrideTarget: redfishTarget(boot.device),
              BootSourceOverrideEnabled:
                boot.device === 'none' ? 'Disabled' : boot.persistent ? 'Continuous' : 'Once',
              'BootSourceOverrideTarget@Redfish.AllowableValues': Object.keys(TARGETS),
            },
            Actions: {
              '#ComputerSystem.Reset': {
                target: resetTarget,
                'ResetType@Redfish.AllowableValues': RESET_TYPES,
              },
            },
          });
        }
        if (p === system && method === 'PATCH') {
          const boot = (body.Boot ?? {}) as Record<string, unknown>;
          const device = TARGETS[String(boot.BootSourceOverrideTarget)];
          const enabled = String(boot.BootSourceOverrideEnabled ?? 'Once');
          if (!device || !['Once', 'Continuous', 'Disabled'].includes(enabled))
            return send(400, { error: { message: `unsupported Boot ${JSON.stringify(boot)}` } });
          await opts.driver.setBootDevice(t, enabled === 'Disabled' ? 'none' : device, {
            persistent: enabled === 'Continuous',
          });
          return send(204);
        }
        if (p === resetTarget && method === 'POST') {
          const type = String(body.ResetType);
          if (type === 'On') await opts.driver.powerOn(t);
          else if (type === 'ForceOff' || type === 'GracefulShutdown') await opts.driver.powerOff(t);
          else if (type === 'ForceRestart') await opts.driver.powerReset(t);
          else if (type === 'PowerCycle') await opts.driver.powerCycle(t);
          else return send(400, { error: { message: `ResetType ${type} is not allowed` } });
          return send(204);
        }
        return send(404, { error: { message: `no ${method} ${p}` } });
      };
      const server = http.createServer((req, res) => {
        handle(req, res).catch((err: unknown) => {
          res.writeHead(500, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ error: { message: err instanceof Error ? err.message : String(err) } }));
        });
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(h.port, address, () => resolve());
      });
      servers.push(server);
      urls[h.name] = `http://${address}:${(server.address() as AddressInfo).port}`;
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { urls, requests, close };
}

/**
 * Gives every host of `site` in a SoT written by testkit/sot.ts a Redfish BMC of this file instead of the `sim`
 * driver: host i (in file order) at http://127.0.0.1:<basePort + i>, its system named, basic auth, credentials
 * `credentials`.
 */
export async function useSimRedfishBmcs(
  sotDir: string,
  site: string,
  basePort: number,
  credentials = 'test-bmc',
): Promise<void> {
  const file = path.join(sotDir, 'sites', site, 'hosts.yml');
  const docs = parseAllDocuments(await readFile(file, 'utf8')).map(
    (d) => d.toJS() as { name: string; interfaces: Record<string, unknown>[] },
  );
  for (const [i, h] of docs.entries()) {
    h.interfaces = h.interfaces.map((x) =>
      x.type === 'bmc'
        ? {
            type: 'bmc',
            driver: 'redfish',
            address: `http://127.0.0.1:${basePort + i}`,
            credentials,
            options: { system: simSystemPath(h.name), auth: 'basic', timeout_s: 10, power_settle_s: 10 },
          }
        : x,
    );
  }
  await writeFile(file, docs.map((d) => stringify(d)).join('---\n'));
}
