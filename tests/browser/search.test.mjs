// Search, usable from every page: the search field in the header of a reading page leads to its
// language's search page, where the pagefind UI runs the query over that language's transcripts
// only (the index is built per language at build time); a French word is found after an elision.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serveAndBrowse, newPage } from './harness.mjs';

let server;
let browser;
serveAndBrowse((s, b) => { server = s; browser = b; });

/** The result links the search page shows for its query, once it shows any. */
async function results(page) {
  const links = page.locator('.pagefind-ui__result-link');
  await links.first().waitFor({ timeout: 30_000 });
  return links.evaluateAll((as) => as.map((a) => new URL(a.href).pathname));
}

for (const [lang, from, query, seed] of [
  ['fr', '/fr/topics/', 'Macédoine', '/fr/transcripts/2018/04/26/pre-ministerial-press-conference/'],
  ['en', '/en/speakers/', 'Macedonia', '/en/transcripts/2018/04/26/pre-ministerial-press-conference/'],
  // in the French text the word only ever follows an elision: « l’Ukraine »
  ['fr', '/fr/', 'Ukraine', '/fr/transcripts/2018/04/26/pre-ministerial-press-conference/'],
]) {
  test(`the header's search finds the seed transcript in its own language only (${lang}: ${query})`, async () => {
    const page = await newPage(browser, lang);
    await page.goto(`${server.url}${from}`);
    await page.fill('#site-search', query);
    await page.press('#site-search', 'Enter');
    await page.waitForURL((url) => url.pathname === `/${lang}/search/` && url.searchParams.get('q') === query);
    const found = await results(page);
    assert.ok(found.includes(seed), `${seed} not among ${found.join(', ')}`);
    const other = found.filter((p) => !p.startsWith(`/${lang}/transcripts/`));
    assert.deepEqual(other, [], `results outside /${lang}/transcripts/`);
    assert.equal(await page.inputValue('#site-search'), query, 'the header keeps the query');
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });
}

test('a word no transcript has finds nothing, and says so', async () => {
  const page = await newPage(browser, 'fr');
  await page.goto(`${server.url}/fr/search/?q=zzqxjvw`);
  const message = page.locator('.pagefind-ui__message');
  await message.waitFor({ timeout: 30_000 });
  await page.waitForFunction(() => /zzqxjvw/.test(document.querySelector('.pagefind-ui__message')?.textContent || ''));
  assert.equal(await page.locator('.pagefind-ui__result-link').count(), 0);
  assert.deepEqual(page.jsErrors, []);
  await page.context().close();
});
