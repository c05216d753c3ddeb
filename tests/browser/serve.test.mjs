// `pressroom serve` itself: directory URLs, per-language 404 pages with status 404, the live-reload
// script injected into served pages only (never into public/), and a rebuild + reload after a
// transcript changes, with its time printed (target: under 100 ms on a small site); a change that
// does not build shows its errors over the open pages.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { serveAndBrowse, newPage } from './harness.mjs';

let server;
let browser;
serveAndBrowse((s, b) => { server = s; browser = b; }, { watch: true });

test('directory URLs serve index.html; missing pages get their language 404 with status 404', async () => {
  const home = await fetch(`${server.url}/fr/`);
  assert.equal(home.status, 200);
  assert.match(home.headers.get('content-type'), /^text\/html/);
  const missing = await fetch(`${server.url}/fr/nulle-part/`);
  assert.equal(missing.status, 404);
  const html = await missing.text();
  assert.match(html, /<html lang="fr"/);
  const root404 = await fetch(`${server.url}/nowhere`);
  assert.equal(root404.status, 404);
  const api = await fetch(`${server.url}/api/me`);
  assert.equal(api.status, 401);
  assert.equal((await api.json()).error.code, 'not_signed_in');
});

test('the root page sends each reader to their language, or to the default one', async () => {
  for (const [languages, home] of [[['fr-CA', 'en'], '/fr/'], [['de-DE', 'en-US'], '/en/'], [['de-DE'], '/en/'], [['FR'], '/fr/']]) {
    const context = await browser.newContext({ locale: languages[0] });
    // navigator.languages is the reader's whole list, in order of preference
    await context.addInitScript((list) => Object.defineProperty(navigator, 'languages', { get: () => list }), languages);
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    await page.waitForURL(`${server.url}${home}`);
    await context.close();
  }
});

test('the reload script is injected by serve, never written to public/', async () => {
  const served = await (await fetch(`${server.url}/en/`)).text();
  assert.ok(served.includes('/__pressroom/reload'));
  const onDisk = await readFile(path.join(server.root, 'public', 'en', 'index.html'), 'utf8');
  assert.ok(!onDisk.includes('/__pressroom/reload'));
  const css = await readdir(path.join(server.root, 'public'));
  const asset = css.find((f) => /^app\.[0-9a-f]+\.css$/.test(f));
  assert.ok(asset, 'fingerprinted app.css');
  assert.ok(!(await (await fetch(`${server.url}/${asset}`)).text()).includes('__pressroom'));
});

test('an edited transcript updates only its pages and reloads the open page', async (ctx) => {
  const page = await newPage(browser, 'en');
  const dir = path.join(server.root, 'content', 'en');
  const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.md')).sort();
  const file = path.join(dir, files[files.length - 1]);
  const built = (await readdir(path.join(server.root, 'public', 'en', 'transcripts'), { recursive: true }))
    .filter((f) => f.endsWith('index.html'));
  assert.ok(built.length > 0);
  await page.goto(`${server.url}/en/`);
  // Wait until the page listens for reloads (the injected script's EventSource is open).
  await page.waitForFunction(() => window.__pressroomLiveReload && window.__pressroomLiveReload.readyState === 1, null, { timeout: 10000 });
  await page.evaluate(() => { window.__beforeReload = true; });
  const marker = `Live reload marker ${Date.now()}`;
  const lines = () => server.output().split('\n').filter((l) => l.startsWith('updated ')).length;
  const rebuildsBefore = lines();
  await appendFile(file, `\n\n${marker}\n`);
  // The page reloads by itself: the flag set above disappears.
  await page.waitForFunction(() => window.__beforeReload !== true, null, { timeout: 20000 });
  const deadline = Date.now() + 5000;
  while (lines() === rebuildsBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  // An edit to what a transcript says re-renders only the pages that show it, not the site.
  const line = server.output().split('\n').filter((l) => l.startsWith('updated ')).pop();
  assert.match(line, /^updated \d+ pages? in \d+ ms after content\//);
  ctx.diagnostic(line);
  // The rebuilt transcript carries the change.
  const found = [];
  for (const f of built) {
    if ((await readFile(path.join(server.root, 'public', 'en', 'transcripts', f), 'utf8')).includes(marker)) found.push(f);
  }
  assert.equal(found.length, 1, `exactly one rebuilt page carries the marker: ${found}`);
  await page.context().close();
});

test('a change that does not build shows its errors over the open page, until it is fixed', async () => {
  const page = await newPage(browser, 'en');
  await page.goto(`${server.url}/en/`);
  await page.waitForFunction(() => window.__pressroomLiveReload && window.__pressroomLiveReload.readyState === 1, null, { timeout: 10000 });
  const broken = path.join(server.root, 'content', 'en', 'zz-broken.md');
  await writeFile(broken, '+++\ntitle = "No date"\nkind = "speech"\n+++\nText.\n');
  const panel = page.locator('#__pressroom-error[role="alert"]');
  await panel.waitFor({ timeout: 20000 });
  assert.match(await panel.textContent(), /content\/en\/zz-broken\.md:2:1: missing field `date`/);
  // a page opened now, from the last good site, says so too
  const other = await newPage(browser, 'en');
  await other.goto(`${server.url}/en/topics/`);
  await other.locator('#__pressroom-error').waitFor({ timeout: 10000 });
  await other.context().close();
  // fixed: the page reloads and the panel is gone
  await page.evaluate(() => { window.__beforeReload = true; });
  await rm(broken);
  await page.waitForFunction(() => window.__beforeReload !== true, null, { timeout: 20000 });
  assert.equal(await page.locator('#__pressroom-error').count(), 0);
  await page.context().close();
});
