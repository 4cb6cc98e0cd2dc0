// How long each step of a simulated boot takes. Demos use small realistic-looking delays; scale runs use 0.

export interface SimDelays {
  /** BMC call latency. */
  bmc: number;
  dhcp: number;
  tftp: number;
  ipxe: number;
  kernel: number;
  initrd: number;
  config: number;
  checkpoint: number;
  /** Running a simulated task. */
  task: number;
}

export const DEMO_DELAYS: SimDelays = {
  bmc: 50,
  dhcp: 400,
  tftp: 200,
  ipxe: 100,
  kernel: 300,
  initrd: 300,
  config: 500,
  checkpoint: 800,
  task: 200,
};

export const ZERO_DELAYS: SimDelays = {
  bmc: 0,
  dhcp: 0,
  tftp: 0,
  ipxe: 0,
  kernel: 0,
  initrd: 0,
  config: 0,
  checkpoint: 0,
  task: 0,
};

/** `dhcp=100,kernel=50` or a single number for all steps. */
export function parseSimDelays(spec: string | undefined, base: SimDelays = DEMO_DELAYS): SimDelays {
  if (!spec) return base;
  if (/^\d+$/.test(spec)) {
    const n = Number(spec);
    return Object.fromEntries(Object.keys(base).map((k) => [k, n])) as unknown as SimDelays;
  }
  const out = { ...base };
  for (const part of spec.split(',')) {
    const [k, v] = part.split('=');
    if (!k || !(k in out) || v === undefined || !/^\d+$/.test(v))
      throw new Error(`bad sim delay "${part}" (use step=ms)`);
    out[k as keyof SimDelays] = Number(v);
  }
  return out;
}
