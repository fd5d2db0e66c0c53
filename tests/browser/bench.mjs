// The UI's browser benchmark: opens URL ROUNDS times, each in a fresh browser context (an
// empty cache, as a first visit), and prints as JSON the milliseconds from navigation start
// to the flame graph drawn (its canvas painted and its top table listing functions), and the
// bytes of assets the page fetched (as sent: gzipped).
// Usage: node bench.mjs URL ROUNDS
import { launch } from './chromium.mjs';

const [url, rounds = '5'] = process.argv.slice(2);
const browser = await launch();
const out = { url, drawnMs: [], assetBytes: 0 };
try {
  for (let i = 0; i < Number(rounds); i++) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    await page.goto(url, { waitUntil: 'commit' });
    // Drawn: the table lists a function and the canvas has non-blank pixels.
    await page.locator('[role="table"] [role="row"]').nth(1).waitFor({ timeout: 120_000 });
    await page.waitForFunction(
      () => {
        const c = document.querySelector('main.flamegraph canvas');
        if (!c || c.width === 0) return false;
        const px = c.getContext('2d').getImageData(0, 0, c.width, Math.min(c.height, 60)).data;
        for (let j = 3; j < px.length; j += 4) if (px[j] !== 0) return true;
        return false;
      },
      null,
      { timeout: 120_000, polling: 'raf' },
    );
    out.drawnMs.push(await page.evaluate(() => performance.now()));
    out.assetBytes = await page.evaluate(() =>
      performance
        .getEntriesByType('resource')
        .filter((e) => new URL(e.name).pathname.startsWith('/assets/'))
        .reduce((sum, e) => sum + e.encodedBodySize, 0),
    );
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
