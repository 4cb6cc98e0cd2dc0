// A held lab's dashboard in a real browser (Debian's Chromium, driven by playwright-core): the lab's server lives
// on the namespace's loopback, so this listens on the host's 127.0.0.1 and forwards to the server's unix socket, as
// `vaquero lab up` does (lab/forward.ts). It signs in with the lab's read token and then its operate token, opens a
// host's page, takes what the page shows (timeline rows, installer log rows, action buttons) and screenshots to
// test-artifacts/lab/ (gitignored). The caller asserts; this only looks.
import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { forwardTcpToUnix } from '../../lab/forward.ts';
import { readLabToken } from '../../lab/lab-server.ts';
import type { LabReady } from '../../lab/scenario.ts';

const CHROMIUM = '/usr/bin/chromium';
export const LAB_ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/lab/', import.meta.url));
const WAIT = 30_000;

export interface HostPageView {
  /** `<kind>`, `<what>` of each timeline row, in page order. */
  timeline: { kind: string; what: string }[];
  /** Each installer log row: via (syslog or http), from, app, line. */
  installerLog: { via: string; from: string; app: string; severity: string; line: string }[];
  /** The page's State fact. */
  state: string;
  /** Buttons that act on something (`button.action`). */
  actionButtons: number;
  /** The sign-in's role as the header shows it. */
  who: string;
  screenshot: string;
}

export interface LabDashboardView {
  read: HostPageView;
  operate: HostPageView;
  /** The fleet page (read token): the host's row links to its page. */
  fleetLinksHost: boolean;
}

async function signIn(browser: Browser, base: string, token: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.waitForURL(`${base}/ui/login`, { timeout: WAIT });
  await page.fill('input[name=token]', token);
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/`, { timeout: WAIT });
  return page;
}

async function hostPage(
  page: Page,
  base: string,
  site: string,
  host: string,
  shot: string,
): Promise<HostPageView> {
  await page.goto(`${base}/ui/hosts/${site}/${host}`);
  await page.locator('#host').waitFor({ timeout: WAIT });
  const timeline = await page.locator('table.timeline tbody tr').evaluateAll((rows) =>
    rows.map((r) => ({
      kind: r.getAttribute('data-kind') ?? '',
      what: (r.querySelectorAll('td')[4]?.textContent ?? '').trim(),
    })),
  );
  const installerLog = await page.locator('#installer-log tr.log-line').evaluateAll((rows) =>
    rows.map((r) => {
      const c = [...r.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim());
      return { via: c[2] ?? '', from: c[3] ?? '', severity: c[4] ?? '', app: c[5] ?? '', line: c[6] ?? '' };
    }),
  );
  const screenshot = path.join(LAB_ARTIFACTS, shot);
  await page.screenshot({ path: screenshot, fullPage: true });
  return {
    timeline,
    installerLog,
    state: (await page.locator('#host dd[data-state]').getAttribute('data-state')) ?? '',
    actionButtons: await page.locator('button.action').count(),
    who: (await page.locator('header .who').innerText()).trim(),
    screenshot,
  };
}

/** The host's page in Chromium with the read token, then the operate token, through a forward to the lab's server. */
export async function viewLabHost(ready: LabReady, site: string, host: string): Promise<LabDashboardView> {
  await access(CHROMIUM).catch(() => {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (npm run setup installs it)`);
  });
  await mkdir(LAB_ARTIFACTS, { recursive: true });
  const forward = await forwardTcpToUnix(0, ready.sockets.api);
  const base = `http://127.0.0.1:${forward.port}`;
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const reader = await signIn(browser, base, await readLabToken(ready.readTokenFile));
    const fleetLinksHost = (await reader.locator(`#hosts a[href="/ui/hosts/${site}/${host}"]`).count()) > 0;
    await reader.screenshot({ path: path.join(LAB_ARTIFACTS, `fleet-read-${host}.png`), fullPage: true });
    const read = await hostPage(reader, base, site, host, `host-${host}-read.png`);
    const operator = await signIn(browser, base, await readLabToken(ready.apiTokenFile));
    const operate = await hostPage(operator, base, site, host, `host-${host}-operate.png`);
    return { read, operate, fleetLinksHost };
  } finally {
    await browser?.close();
    forward.server.close();
  }
}
