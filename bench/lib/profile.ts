// Top frames of a V8 CPU profile (`node --cpu-prof`): self time per function and per source (our files, a
// package, Node internals), which is what a reader needs to see where the agent's time goes.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Self time; (idle) and (program) included so the busy share is visible. */
  frames: { frame: string; ms: number; percent: number }[];
  sources: { source: string; ms: number; percent: number }[];
}

function sourceOf(url: string): string {
  if (!url) return '(native or V8)';
  if (url.startsWith('node:')) return 'node internals';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const ours = /\/(agent|sot|bench|activities|workflows|workers|sim|temporal)\/(.*)$/.exec(url);
  return ours ? `${ours[1]}/${ours[2]}` : url;
}

export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const frames = new Map<string, number>();
  const sources = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const node = byId.get(p.samples[i]!);
    const us = p.timeDeltas[i] ?? 0;
    if (!node) continue;
    total += us;
    const cf = node.callFrame;
    const where = cf.url ? `${sourceOf(cf.url)}:${cf.lineNumber + 1}` : '';
    const name = `${cf.functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
    frames.set(name, (frames.get(name) ?? 0) + us);
    const src = cf.functionName.startsWith('(') ? cf.functionName : sourceOf(cf.url);
    sources.set(src, (sources.get(src) ?? 0) + us);
  }
  const rank = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => ({
        ms: Math.round(us / 1000),
        percent: Math.round((us / Math.max(total, 1)) * 1000) / 10,
        k,
      }));
  return {
    file: path.basename(file),
    totalMs: Math.round(total / 1000),
    frames: rank(frames).map(({ k, ms, percent }) => ({ frame: k, ms, percent })),
    sources: rank(sources).map(({ k, ms, percent }) => ({ source: k, ms, percent })),
  };
}

export function summarizeProfiles(dir: string): ProfileSummary[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return [];
  }
  return files.sort().map((f) => summarizeProfile(path.join(dir, f)));
}
