// The fleet dashboard in a real browser (Debian's Chromium, driven by playwright-core) against `vaquero dev` as a
// newcomer starts it: a rollout shows live, a read token's page has no action buttons, and an operate token's page
// pauses and resumes the rollout — seen by the read page without a reload, through the server-sent events. The
// sim hosts wait long for their checkpoint, so the rollout is still running while the browser acts on it; every
// other boot step takes no time. Screenshots go to test-artifacts/dashboard/ (gitignored).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { freePort } from '../../temporal/ports.ts';
import { withTimeout } from '../../testkit/workflows.ts';

const VAQUERO = fileURLToPath(new URL('../../bin/vaquero.js', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/dashboard/', import.meta.url));
/** Every boot step at once but the checkpoint, which keeps each host (and so the rollout) running for minutes. */
const DELAYS = 'bmc=0,dhcp=0,tftp=0,ipxe=0,kernel=0,initrd=0,config=0,task=0,checkpoint=300000';
const WAIT = 60_000;

async function signIn(browser: Browser, base: string, token: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  await page.goto(`${base}/`);
  // No session: the sign-in form.
  await page.waitForURL(`${base}/ui/login`);
  await page.fill('input[name=token]', token);
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/`);
  return page;
}

test('the dashboard shows a rollout live; a read token gets no buttons; an operate token pauses and resumes it', async (t) => {
  await access(CHROMIUM).catch(() => {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (npm run setup installs it)`);
  });
  await mkdir(ARTIFACTS, { recursive: true });
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'vq-dash-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const apiPort = await freePort();
  const child = spawn(
    process.execPath,
    [
      VAQUERO,
      'dev',
      '--data-dir',
      dataDir,
      '--port',
      String(await freePort()),
      '--api-port',
      String(apiPort),
      '--sim-delays',
      DELAYS,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TEMPORAL_ADDRESS: '' } },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const line = (re: RegExp) =>
    withTimeout(
      `vaquero dev to print ${re}`,
      new Promise<RegExpExecArray>((resolve, reject) => {
        const check = () => {
          const m = re.exec(out);
          if (m) resolve(m);
          else if (child.exitCode !== null) reject(new Error(`vaquero dev exited: ${out}`));
          else setTimeout(check, 100);
        };
        check();
      }),
      240_000,
    );
  const api = await line(/^API (http:\/\/127\.0\.0\.1:\d+) \(OpenAPI UI \S+; operate token in (\S+)\)$/m);
  const dash = await line(
    /^dashboard (http:\/\/127\.0\.0\.1:\d+)\/ \(sign in with a token; read-only token in (\S+)\)$/m,
  );
  const base = api[1]!;
  assert.equal(dash[1], base);
  const operateToken = (await readFile(api[2]!, 'utf8')).trim();
  const readToken = (await readFile(dash[2]!, 'utf8')).trim();
  const started = await line(/^rollout (rollout\/\S+) started$/m);
  const rolloutId = started[1]!;

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  t.after(() => browser.close());

  // A read token: the rollout appears, running, with its progress, and no button acts on it.
  const reader = await signIn(browser, base, readToken);
  const readRow = reader.locator(`tr[data-rollout="${rolloutId}"]`);
  await readRow.locator('td[data-state="running"]').waitFor({ timeout: WAIT });
  await reader.locator('#matrix').waitFor({ timeout: WAIT });
  assert.match(await readRow.locator('.counts').innerText(), /\d+ running/);
  assert.equal(await reader.locator('button.action').count(), 0);
  assert.match(await reader.locator('header .who').innerText(), /dev-read \(read\)/);
  await reader.screenshot({ path: path.join(ARTIFACTS, 'read-token-fleet.png'), fullPage: true });
  // The live feed is connected (the page redraws from it rather than from any timer).
  await reader.locator('#live-state', { hasText: 'live' }).waitFor({ timeout: WAIT });

  // An operate token: Pause on the rollout's row; the page comes back with the rollout paused and a Resume button.
  const operator = await signIn(browser, base, operateToken);
  const opRow = operator.locator(`tr[data-rollout="${rolloutId}"]`);
  await opRow.locator('button[data-action="pause"]').click({ timeout: WAIT });
  await opRow.locator('td[data-state="paused"]').waitFor({ timeout: WAIT });
  await operator.screenshot({ path: path.join(ARTIFACTS, 'operate-token-paused.png'), fullPage: true });
  // The read page, never reloaded, shows the pause too: it came over the server-sent events.
  await readRow.locator('td[data-state="paused"]').waitFor({ timeout: WAIT });
  assert.ok(Number(await reader.locator('main').getAttribute('data-redrawn')) > 0);
  assert.equal(await reader.locator('button.action').count(), 0);
  await reader.screenshot({ path: path.join(ARTIFACTS, 'read-token-paused.png'), fullPage: true });

  // The API agrees: the workflow itself is paused.
  const auth = { authorization: `Bearer ${operateToken}` };
  const [, sot, revision] = /^rollout\/([^/]+)\/(.+)$/.exec(rolloutId)!;
  const detail = async () =>
    (
      (await (await fetch(`${base}/rollouts/${sot}/${revision}`, { headers: auth })).json()) as {
        state: string;
      }
    ).state;
  assert.equal(await detail(), 'paused');

  await opRow.locator('button[data-action="resume"]').click({ timeout: WAIT });
  await opRow.locator('td[data-state="running"]').waitFor({ timeout: WAIT });
  await readRow.locator('td[data-state="running"]').waitFor({ timeout: WAIT });
  assert.equal(await detail(), 'running');
  await operator.screenshot({ path: path.join(ARTIFACTS, 'operate-token-resumed.png'), fullPage: true });

  // The rollout's page: per SoT workflow, its progress and its policy (sot-examples/lab: provision and smoke).
  await opRow.locator('td a').first().click();
  await operator.locator('#rollout').waitFor({ timeout: WAIT });
  assert.match(
    await operator.locator('#workflows tr[data-workflow="provision"] .policy').innerText(),
    /max_concurrent 2 · min_standing 1 · max_fail 1/,
  );
  assert.match(
    await operator.locator('#workflows tr[data-workflow="smoke"] .policy').innerText(),
    /max_concurrent 1/,
  );
  assert.equal(await operator.locator('#rollout button[data-action="pause"]').count(), 1);
  await operator.screenshot({ path: path.join(ARTIFACTS, 'rollout-page.png'), fullPage: true });

  // A host page: its timeline has the boot events and the power cycle, and its run links to the Temporal UI.
  await operator.goto(`${base}/?state=running`);
  await operator.locator('#hosts tbody a').first().click();
  await operator.locator('#host').waitFor({ timeout: WAIT });
  await operator.locator('tr[data-kind="event"]', { hasText: 'dhcp' }).first().waitFor({ timeout: WAIT });
  assert.ok((await operator.locator('tr[data-kind="power"]').count()) >= 1);
  assert.match(
    (await operator.locator('a.temporal').getAttribute('href')) ?? '',
    /^http:\/\/127\.0\.0\.1:\d+\/namespaces\//,
  );
  await operator.screenshot({ path: path.join(ARTIFACTS, 'host-page.png'), fullPage: true });

  await browser.close();
  child.kill('SIGINT');
  await withTimeout('vaquero dev to stop', exited, 60_000).catch((err: unknown) => {
    throw new Error(
      `${err instanceof Error ? err.message : String(err)}; its output ends:\n${out.slice(-3000)}`,
    );
  });
});
