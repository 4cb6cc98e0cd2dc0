// Reading perfdhcp's (kea-admin, Kea 2.2) text output: the per-exchange statistics, the achieved rate, the
// per-exchange timestamps of `-x t`, and the avalanche scenario's "It took … to provision N clients".

export interface ExchangeStats {
  sent: number;
  received: number;
  drops: number;
  avgMs: number | null;
}

export interface PerfdhcpRun {
  /** 0: no drops; 3: drops (a result, not a crash, LAB.md §3). */
  code: number | null;
  /** "Rate: 199.63 4-way exchanges/second". */
  rate: number | null;
  discover: ExchangeStats | null;
  request: ExchangeStats | null;
  /** DISCOVER→OFFER and REQUEST→ACK delays in ms, one per successful exchange (with `-x t`). */
  discoverDelaysMs: number[];
  requestDelaysMs: number[];
  /** Avalanche only. */
  provisionSeconds: number | null;
  provisionedClients: number | null;
  resent: number | null;
}

function exchange(output: string, name: string): ExchangeStats | null {
  const at = output.indexOf(`***Statistics for: ${name}***`);
  if (at < 0) return null;
  const part = output.slice(at, at + 1000);
  const num = (label: string): number | null => {
    const m = new RegExp(`${label}: ([0-9.]+)`).exec(part);
    return m ? Number(m[1]) : null;
  };
  const sent = num('sent packets');
  const received = num('received packets');
  if (sent === null || received === null) return null;
  return { sent, received, drops: num('drops') ?? sent - received, avgMs: num('avg delay') };
}

/** `-x t` prints "sent / received: 000000.000073 / 000000.000658" (seconds) per exchange after a heading. */
function delays(output: string, name: string): number[] {
  const heading = `***Timestamps for packets: ${name}***`;
  const at = output.indexOf(heading);
  if (at < 0) return [];
  const rest = output.slice(at + heading.length);
  const end = rest.indexOf('***');
  const out: number[] = [];
  for (const m of (end < 0 ? rest : rest.slice(0, end)).matchAll(
    /sent \/ received: ([0-9.]+) \/ ([0-9.]+)/g,
  )) {
    out.push((Number(m[2]) - Number(m[1])) * 1000);
  }
  return out;
}

export function parsePerfdhcp(output: string, code: number | null): PerfdhcpRun {
  const rate = /Rate: ([0-9.]+) 4-way exchanges\/second/.exec(output);
  const took = /It took (\d+):(\d+):([0-9.]+) to provision (\d+) clients/.exec(output);
  const resent = /Requests resent: (\d+)/.exec(output);
  return {
    code,
    rate: rate ? Number(rate[1]) : null,
    discover: exchange(output, 'DISCOVER-OFFER'),
    request: exchange(output, 'REQUEST-ACK'),
    discoverDelaysMs: delays(output, 'DISCOVER-OFFER'),
    requestDelaysMs: delays(output, 'REQUEST-ACK'),
    provisionSeconds: took ? Number(took[1]) * 3600 + Number(took[2]) * 60 + Number(took[3]) : null,
    provisionedClients: took ? Number(took[4]) : null,
    resent: resent ? Number(resent[1]) : null,
  };
}

/** True when every DISCOVER got its OFFER and every REQUEST its ACK. */
export function noDrops(r: PerfdhcpRun): boolean {
  return (
    r.discover !== null &&
    r.request !== null &&
    r.discover.sent > 0 &&
    r.discover.drops === 0 &&
    r.request.drops === 0 &&
    r.discover.received === r.discover.sent &&
    r.request.received === r.request.sent
  );
}

/**
 * perfdhcp's `-b mac=BASE -R N` clients: client r adds r to the base byte by byte from the last octet, with no
 * carry between octets (seen on the wire with Kea 2.2: base …:00:f0 + 16 gives …:00:00). A base whose last two
 * octets are 0 therefore gives base + r for r < 65536, which is what the benchmarks use.
 */
export function perfdhcpMac(base: string, r: number): string {
  const bytes = base.split(':').map((h) => parseInt(h, 16));
  let rest = r;
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = (bytes[i]! + (rest & 0xff)) & 0xff;
    if (rest < 256) break;
    rest >>= 8;
  }
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
