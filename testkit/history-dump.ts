// Every workflow history of a namespace as the `temporal` CLI dumps it (`workflow show --output json`): what anyone
// who can read the namespace reads. Optionally through a codec endpoint, as an operator's CLI would decode it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { ensureTemporalCli } from '../temporal/cli-binary.ts';

const run = promisify(execFile);

export interface HistoryDumpOptions {
  address: string;
  namespace: string;
  /** `--codec-endpoint` (e.g. http://127.0.0.1:PORT/codec) and its Authorization header value. */
  codecEndpoint?: { url: string; auth?: string };
}

/** Workflow id → the CLI's JSON of its history, for every run visibility lists. */
export async function dumpHistories(client: Client, opts: HistoryDumpOptions): Promise<Map<string, string>> {
  const cli = await ensureTemporalCli();
  const out = new Map<string, string>();
  for await (const wf of client.workflow.list()) {
    const args = [
      'workflow',
      'show',
      '--workflow-id',
      wf.workflowId,
      '--run-id',
      wf.runId,
      '--output',
      'json',
      '--address',
      opts.address,
      '--namespace',
      opts.namespace,
      ...(opts.codecEndpoint ? ['--codec-endpoint', opts.codecEndpoint.url] : []),
      ...(opts.codecEndpoint?.auth !== undefined ? ['--codec-auth', opts.codecEndpoint.auth] : []),
    ];
    const { stdout } = await run(cli, args, { maxBuffer: 64 << 20 });
    out.set(`${wf.workflowId}@${wf.runId}`, stdout);
  }
  return out;
}

/** The workflows whose dumped history contains any of `needles` — in its JSON, or base64-decoded from it. */
export function historiesContaining(dump: Map<string, string>, needles: readonly string[]): string[] {
  const hits: string[] = [];
  for (const [id, json] of dump) {
    // Payload data is base64 in the CLI's JSON: look in both forms.
    const decoded = [...json.matchAll(/"([A-Za-z0-9+/]{16,}={0,2})"/g)]
      .map((m) => Buffer.from(m[1]!, 'base64').toString('latin1'))
      .join('\n');
    if (needles.some((n) => json.includes(n) || decoded.includes(n))) hits.push(id);
  }
  return hits;
}

/**
 * The text of every payload in one dumped history, opened with `codec` (as the codec endpoint would for an
 * operator): what the history says once decrypted, to show that a search of the dump in clear looks for
 * something the history does carry. Nested payloads (a decoded payload holding encoded ones) are not opened.
 */
export async function decodedPayloadText(json: string, codec: PayloadCodec): Promise<string> {
  const payloads: Payload[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const x of v) walk(x);
      return;
    }
    if (v === null || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    const meta = o.metadata;
    if (
      meta !== null &&
      typeof meta === 'object' &&
      typeof (meta as Record<string, unknown>).encoding === 'string'
    ) {
      payloads.push({
        metadata: Object.fromEntries(
          Object.entries(meta as Record<string, string>).map(([k, b64]) => [k, Buffer.from(b64, 'base64')]),
        ),
        data: Buffer.from(typeof o.data === 'string' ? o.data : '', 'base64'),
      });
      return;
    }
    for (const x of Object.values(o)) walk(x);
  };
  walk(JSON.parse(json));
  const decoded = await codec.decode(payloads);
  return decoded.map((p) => Buffer.from(p.data ?? new Uint8Array()).toString('utf8')).join('\n');
}
