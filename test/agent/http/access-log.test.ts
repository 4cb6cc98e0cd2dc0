// The access log: one line per request, with what a web server's says.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { MAC, setup } from './support/agent-http.ts';

test('the request log has one line per request, with what an access log says', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) },
  );
  const s = await setup(t, { logger });
  s.recorder.bind('127.0.0.1', MAC);
  await s.app.inject({ url: `/ipxe?mac=${MAC}` });
  await s.app.inject({ url: '/assets/debian/linux', headers: { range: 'bytes=0-3' } });
  const requests = lines.filter((l) => l.msg === 'request');
  assert.equal(lines.length, 2, JSON.stringify(lines));
  assert.deepEqual(
    requests.map((l) => [l.method, l.url, l.status]),
    [
      ['GET', `/ipxe?mac=${MAC}`, 404],
      ['GET', '/assets/debian/linux', 206],
    ],
  );
  assert.ok(requests.every((l) => typeof l.ms === 'number' && typeof l.ip === 'string'));
});
