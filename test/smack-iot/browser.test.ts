// The demo's dashboard in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
// the page, served by web through marathon-lb, shows live meter and simulator data fetched through
// marathon-lb, and a screenshot of it is saved in the temp folder (as docs/smack-iot.png with
// BATON_UPDATE_SCREENSHOT=1, so a test run leaves the checkout as it was).
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent, demoMissingReason, ROOT, startDemo, type Demo } from './demo-process.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = process.env.BATON_UPDATE_SCREENSHOT === '1' ? `${ROOT}docs/smack-iot.png` : join(tmpdir(), 'baton-smack-iot.png');
const reason = !existsSync(CHROMIUM) ? `(skipped: ${CHROMIUM} missing — apt-get install chromium)` : demoMissingReason();

describe.skipIf(reason !== '')(`SMACK IoT dashboard in Chromium ${reason}`, () => {
  let demo: Demo;
  let browser: import('playwright-core').Browser | undefined;

  beforeAll(async () => {
    demo = await startDemo({ defaultPorts: true });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await demo?.interrupt();
    agent.destroy();
  }, 90_000);

  it('shows live data fetched through marathon-lb and saves a screenshot', async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 860 } });
    const failedRequests: string[] = [];
    page.on('requestfailed', (request) => failedRequests.push(`${request.url()}: ${request.failure()?.errorText}`));
    await page.goto(`http://${demo.ports.externalIp}:${demo.ports.webPort}/`);
    await expect.poll(() => page.title()).toBe('SMACK IoT on baton');

    const count = async (selector: string) => Number((await page.textContent(selector))!.replace(/,/g, ''));
    // The first refresh fills the page: three meter instances, one founder, two brokers.
    await expect.poll(() => page.locator('#members tbody tr').count(), { timeout: 20_000 }).toBe(3);
    await expect.poll(() => count('#sent'), { timeout: 20_000 }).toBeGreaterThan(0);
    expect(await page.locator('#members .badge.founder').count()).toBe(1);
    expect(await page.textContent('#broker-count')).toBe('2');
    expect(await page.textContent('#srv')).toContain('_meter._tcp.marathon.mesos');
    expect(await page.locator('#kinds tbody tr').count()).toBe(3);

    // Live: the numbers change from one read to the next (the page refreshes every second).
    const sent1 = await count('#sent');
    const received1 = await count('#received');
    await expect.poll(() => count('#sent'), { timeout: 15_000 }).toBeGreaterThan(sent1);
    await expect.poll(() => count('#received'), { timeout: 15_000 }).toBeGreaterThan(received1);
    expect(await page.isVisible('#error')).toBe(false);
    expect(failedRequests).toEqual([]);

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
    await page.close();
  }, 120_000);
});
