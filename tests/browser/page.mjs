// Opens a page of a running flamelet serve in Debian's Chromium, as a person would, and prints
// what it shows as JSON: the flame graph's top-table rows, any error message, the page's own
// errors. Writes a screenshot. Usage: node page.mjs URL SCREENSHOT.png (table|alert)
import { chromium } from 'playwright-core';

const [url, screenshot, waitFor = 'table'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.FLAMELET_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  // Debian's Chromium as root needs no sandbox; the rest keeps it off the (closed) network.
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const out = { url, rows: [], alert: null, pageErrors: [], title: null, service: null };
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (e) => out.pageErrors.push(String(e)));
  await page.goto(url);
  if (waitFor === 'alert') {
    await page.getByRole('alert').waitFor({ timeout: 30_000 });
    out.alert = (await page.getByRole('alert').innerText()).trim();
  } else {
    // The top table: one row per function, after the header.
    await page.locator('[role="table"] [role="row"]').nth(1).waitFor({ timeout: 30_000 });
    // The table settles over a few renders (the graph collapses single-child chains): read
    // it until two readings a quarter second apart agree.
    const read = async () =>
      (await page.locator('[role="table"] [role="row"]').allInnerTexts()).map((t) =>
        t.split('\n').map((c) => c.trim()).filter(Boolean),
      );
    let last = await read();
    for (let i = 0; i < 20; i++) {
      await page.waitForTimeout(250);
      const now = await read();
      if (JSON.stringify(now) === JSON.stringify(last)) break;
      last = now;
    }
    out.rows = last;
  }
  out.title = await page.title();
  out.service = await page.getByLabel('Service').inputValue().catch(() => null);
  await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
