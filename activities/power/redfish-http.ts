// A small JSON-over-HTTP(S) client for Redfish: per-request TLS verification (a BMC's self-signed certificate
// is accepted only when its interface says `insecure_tls: true`, or checked against its own `ca_file`), a
// timeout and cancellation per request, and the response's ETag.
import http from 'node:http';
import https from 'node:https';

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  body?: unknown;
  insecure?: boolean;
  ca?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON, or undefined for an empty or non-JSON body. */
  json: unknown;
  text: string;
}

export function httpJson(req: HttpRequest): Promise<HttpResponse> {
  const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
  const headers: Record<string, string> = {
    Accept: 'application/json',
    'OData-Version': '4.0',
    ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) } : {}),
    ...req.headers,
  };
  const secure = req.url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const r = (secure ? https : http).request(
      req.url,
      {
        method: req.method,
        headers,
        signal: req.signal,
        timeout: req.timeoutMs,
        ...(secure ? { rejectUnauthorized: !req.insecure, ...(req.ca ? { ca: req.ca } : {}) } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json, text });
        });
      },
    );
    r.on('timeout', () => r.destroy(new Error(`no answer within ${req.timeoutMs / 1000}s`)));
    r.on('error', reject);
    r.end(payload);
  });
}

/** The message of a Redfish error body (`error.@Message.ExtendedInfo[].Message`, else `error.message`). */
export function redfishErrorMessage(res: HttpResponse): string {
  const err = (
    res.json as
      { error?: { message?: unknown; '@Message.ExtendedInfo'?: { Message?: unknown }[] } } | undefined
  )?.error;
  const ext = err?.['@Message.ExtendedInfo']
    ?.map((i) => i.Message)
    .filter((m): m is string => typeof m === 'string');
  if (ext && ext.length > 0) return ext.join('; ');
  if (typeof err?.message === 'string') return err.message;
  return res.text.trim().slice(0, 200) || `HTTP ${res.status}`;
}
