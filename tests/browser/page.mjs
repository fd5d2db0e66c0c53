// Opens a page of a running flamelet serve in Debian's Chromium, as a person would, and prints
// what it shows as JSON: the flame graph's top-table rows, any error message, the page's own
// errors. Writes a screenshot.
// Usage: node page.mjs URL SCREENSHOT.png (table|alert|changes|panes|export|suggest|explore|status|callgraph|adhoc|adhoc-alert|typed-range|org|metric|hover) [EXTRA]
// Every mode reports the dialogs the page opened and `window.__pwned` (what the hostile-names
// test's payloads set if they ever run); `hover` is `table`, then the pointer moved over the
// flame graph so that its tooltips show.
// `export` saves each export of the single view into the directory EXTRA; `suggest` types
// into the query field after EXTRA (a profile type) and takes the suggestions offered.
import { launch } from './chromium.mjs';

let [url, screenshot, waitFor = 'table', extra] = process.argv.slice(2);
const screenshotNow = (page, path) => page.screenshot({ path, fullPage: true });
const browser = await launch();
const out = {
  url,
  rows: [],
  changes: [],
  panes: {},
  alert: null,
  pageErrors: [],
  title: null,
  service: null,
  downloads: {},
  suggestions: [],
  query: null,
  explore: [],
  opened: null,
  nodes: [],
  matches: [],
  matchCount: null,
  profileType: null,
  synced: null,
  background: null,
  fromShown: null,
  org: null,
  metric: null,
  status: null,
  targets: null,
  dialogs: [],
  pwned: null,
};
try {
  // The system's colour scheme, as the page sees it (prefers-color-scheme).
  const colorScheme = process.env.FLAMELET_COLOR_SCHEME ?? 'light';
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, colorScheme });
  page.on('pageerror', (e) => out.pageErrors.push(String(e)));
  page.on('dialog', (d) => {
    out.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  await page.goto(url);
  // A top table's rows, each as its cells.
  const cells = (texts) => texts.map((t) => t.split('\n').map((c) => c.trim()).filter(Boolean));
  if (waitFor === 'panes') {
    // The comparison view: each side's top table.
    for (const name of ['Baseline', 'Comparison']) {
      const rows = page.locator(`section[aria-label="${name}"] [role="table"] [role="row"]`);
      await rows.nth(1).waitFor({ timeout: 30_000 });
      await page.waitForTimeout(500);
      out.panes[name] = cells(await rows.allInnerTexts());
    }
    // One search for both: typed into the baseline's, it is the comparison's too.
    const search = (name) => page.locator(`section[aria-label="${name}"] input[placeholder="Search..."]`);
    await search('Baseline').pressSequentially('ma');
    await page.waitForTimeout(300);
    out.synced = await search('Comparison').inputValue();
  } else if (waitFor === 'explore') {
    // The tag explorer's table, then the flame graph its first value links to.
    const rows = page.locator('table[aria-label="Values"] tbody tr');
    await rows.first().waitFor({ timeout: 30_000 });
    out.explore = await rows.evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())),
    );
    await screenshotNow(page, screenshot);
    await rows.first().getByRole('link').click();
    await page.locator('[role="table"] [role="row"]').nth(1).waitFor({ timeout: 30_000 });
    await page.waitForTimeout(500);
    out.rows = cells(await page.locator('[role="table"] [role="row"]').allInnerTexts());
    out.opened = page.url();
    screenshot = screenshot.replace(/\.png$/, '-opened.png');
  } else if (waitFor === 'status') {
    // The status page: each tenant's figures, days and quarantined uploads as text.
    await page.locator('section[aria-label^="Tenant "]').first().waitFor({ timeout: 30_000 });
    out.status = await page.locator('section[aria-label^="Tenant "]').evaluateAll((sections) => {
      const rows = (table) =>
        table ? [...table.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())) : [];
      return sections.map((s) => ({
        tenant: s.querySelector('h2').textContent,
        summary: Object.fromEntries([...s.querySelectorAll('dl.summary div')].map((d) => [d.querySelector('dt').textContent, d.querySelector('dd').textContent])),
        days: rows(s.querySelector('table[aria-label^="Days of"]')),
        quarantined: rows(s.querySelector('table[aria-label^="Quarantined"]')),
      }));
    });
    // The pull-mode targets, once loaded: each row's cells, or the note shown instead.
    const targets = page.locator('section[aria-label="Scrape targets"][aria-busy="false"]');
    await targets.waitFor({ timeout: 30_000 });
    out.targets = await targets.evaluate((s) => ({
      rows: [...s.querySelectorAll('tbody tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())),
      note: s.querySelector('.note')?.textContent ?? null,
      alert: s.querySelector('[role="alert"]')?.textContent ?? null,
    }));
  } else if (waitFor === 'callgraph') {
    // The laid-out call graph's functions, then a search for EXTRA and what it marks.
    const nodes = page.locator('[aria-label="Call graph"] g.node');
    await nodes.first().waitFor({ timeout: 30_000 });
    const functions = () => nodes.evaluateAll((gs) => gs.map((g) => g.querySelector('text').textContent));
    out.nodes = (await functions()).sort();
    await page.getByLabel('Search functions').fill(extra);
    await page.waitForTimeout(200);
    out.matches = (
      await page.locator('[aria-label="Call graph"] g.node.match').evaluateAll((gs) => gs.map((g) => g.querySelector('text').textContent))
    ).sort();
    out.matchCount = await page.locator('.matches').innerText();
  } else if (waitFor === 'adhoc' || waitFor === 'adhoc-alert') {
    // Choose the file EXTRA in the ad hoc view: its flame graph's table, or the error shown.
    await page.getByLabel('Profile file').setInputFiles(extra);
    if (waitFor === 'adhoc-alert') {
      await page.getByRole('alert').waitFor({ timeout: 30_000 });
      out.alert = (await page.getByRole('alert').innerText()).trim();
    } else {
      await page.locator('[role="table"] [role="row"]').nth(1).waitFor({ timeout: 30_000 });
      await page.waitForTimeout(500);
      out.rows = cells(await page.locator('[role="table"] [role="row"]').allInnerTexts());
      out.profileType = await page.getByLabel('Profile type').inputValue({ timeout: 1000 }).catch(() => null);
    }
  } else if (waitFor === 'org') {
    // Type the organisation EXTRA, leave the field, then open the page again: the field
    // remembers it and the table shows that tenant's functions.
    await page.getByText('No data in this range.').waitFor({ timeout: 30_000 });
    const org = page.getByLabel('Organisation');
    await org.fill(extra);
    await org.press('Tab');
    await page.locator('[role="table"] [role="row"]').nth(1).waitFor({ timeout: 30_000 });
    await page.reload();
    await page.locator('[role="table"] [role="row"]').nth(1).waitFor({ timeout: 30_000 });
    await page.waitForTimeout(500);
    out.rows = cells(await page.locator('[role="table"] [role="row"]').allInnerTexts());
    out.org = await page.getByLabel('Organisation').inputValue();
  } else if (waitFor === 'sign-in') {
    // The server wants a token: read the refusal, screenshot the form, sign in with EXTRA;
    // the table then shows the token's tenant's functions.
    await page.getByLabel('Access token').waitFor({ timeout: 30_000 });
    out.alert = (await page.getByRole('alert').first().innerText()).trim();
    await screenshotNow(page, screenshot.replace(/\.png$/, '-form.png'));
    await page.getByLabel('Access token').fill(extra);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[role="table"] [role="row"]').nth(1).waitFor({ timeout: 30_000 });
    await page.waitForTimeout(500);
    out.rows = cells(await page.locator('[role="table"] [role="row"]').allInnerTexts());
    out.signOut = await page.getByRole('button', { name: 'Sign out' }).isVisible();
  } else if (waitFor === 'metric') {
    // Click the flame graph's third level (22 px a level) at 80 % of its width, choose "Create
    // metric from this function" in that node's menu, group by EXTRA, create; read what the
    // dialog says.
    await page.locator('[role="table"] [role="row"]').nth(1).waitFor({ timeout: 30_000 });
    await page.waitForTimeout(500);
    const canvas = page.locator('main.flamegraph canvas').first();
    const box = await canvas.boundingBox();
    await canvas.click({ position: { x: box.width * 0.8, y: 2 * 22 + 11 } });
    await page.waitForTimeout(300);
    await screenshotNow(page, screenshot.replace(/\.png$/, '-menu.png'));
    const item = page.getByText('Create metric from this function');
    await item.waitFor({ timeout: 10_000 });
    await item.click();
    const dialog = page.getByRole('dialog', { name: 'Create metric' });
    out.metric = { function: await dialog.locator('code').first().innerText(), name: await dialog.getByLabel('Metric name').inputValue() };
    await dialog.getByLabel('Group by').fill(extra ?? '');
    await screenshotNow(page, screenshot.replace(/\.png$/, '-form.png'));
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.getByRole('status').waitFor({ timeout: 30_000 });
    out.metric.created = (await dialog.getByRole('status').innerText()).trim();
  } else if (waitFor === 'alert') {
    await page.getByRole('alert').waitFor({ timeout: 30_000 });
    out.alert = (await page.getByRole('alert').innerText()).trim();
  } else {
    if (waitFor === 'changes') {
      // The diff view's table of biggest changes, then its top table as for a single graph.
      const rows = page.locator('table[aria-label="Biggest changes"] tbody tr');
      await rows.first().waitFor({ timeout: 30_000 });
      out.changes = await rows.evaluateAll((trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())),
      );
    }
    // The top table: one row per function, after the header.
    await page.locator('[role="table"] [role="row"]').nth(1).waitFor({ timeout: 30_000 });
    // The table settles over a few renders (the graph collapses single-child chains): read
    // it until two readings a quarter second apart agree.
    const read = async () => cells(await page.locator('[role="table"] [role="row"]').allInnerTexts());
    let last = await read();
    for (let i = 0; i < 20; i++) {
      await page.waitForTimeout(250);
      const now = await read();
      if (JSON.stringify(now) === JSON.stringify(last)) break;
      last = now;
    }
    out.rows = last;
    if (waitFor === 'hover') {
      // Across the flame graph's first levels (22 px each), pausing for the tooltip.
      const canvas = page.locator('main.flamegraph canvas').first();
      const box = await canvas.boundingBox();
      for (let level = 0; level < 6; level++) {
        for (const x of [0.1, 0.3, 0.5, 0.7, 0.9]) {
          await page.mouse.move(box.x + box.width * x, box.y + level * 22 + 11);
          await page.waitForTimeout(60);
        }
      }
      // The last one on the second level, held, for the screenshot of its tooltip.
      await page.mouse.move(box.x + box.width * 0.45, box.y + 22 + 11);
      await page.waitForTimeout(400);
      await screenshotNow(page, screenshot.replace(/\.png$/, '-tooltip.png'));
    } else if (waitFor === 'typed-range') {
      // Type EXTRA (a date and time) as the range's start, as a person would.
      const from = page.getByLabel('From', { exact: true });
      await from.fill(extra);
      await from.press('Enter');
      await page.waitForTimeout(300);
      out.opened = page.url();
      out.fromShown = await page.getByLabel('From', { exact: true }).inputValue();
    } else if (waitFor === 'export') {
      // Each export as a person takes it: pick it in the menu, the browser downloads a file.
      for (const format of ['pprof', 'json', 'folded', 'png']) {
        const download = page.waitForEvent('download', { timeout: 30_000 });
        await page.getByLabel('Export').selectOption(format);
        const file = await download;
        const path = `${extra}/${file.suggestedFilename()}`;
        await file.saveAs(path);
        out.downloads[format] = path;
      }
    } else if (waitFor === 'suggest') {
      // Type a label name's start, take the first suggestion, then a value's.
      const query = page.getByLabel('Query', { exact: true });
      const list = page.getByRole('listbox');
      await query.fill(extra);
      await query.press('End');
      await query.pressSequentially('reg');
      await list.getByRole('option').first().waitFor({ timeout: 30_000 });
      out.suggestions.push(await list.getByRole('option').allInnerTexts());
      await query.press('Enter');
      await list.getByRole('option').first().waitFor({ timeout: 30_000 });
      await page.waitForTimeout(300);
      out.suggestions.push(await list.getByRole('option').allInnerTexts());
      await screenshotNow(page, screenshot.replace(/\.png$/, '-open.png'));
      await list.getByRole('option').last().click();
      out.query = await query.inputValue();
    }
  }
  out.pwned = await page.evaluate(() => window.__pwned ?? null);
  out.title = await page.title();
  out.background = await page.evaluate(() => getComputedStyle(document.querySelector('.app')).backgroundColor);
  out.service = await page.getByLabel('Service').inputValue({ timeout: 1000 }).catch(() => null);
  await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
