// axe-core finds no accessibility violations on the home page, a transcript page and every account
// screen (as first shown), in every language; the account screens also work from the keyboard
// alone: the first field is reachable, labels are tied to inputs, errors to fields.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { serveAndBrowse, newPage, axe, shot } from './harness.mjs';

let server;
let browser;
serveAndBrowse((s, b) => { server = s; browser = b; });

const SCREENS = ['register', 'verify', 'welcome', 'signin', 'reset'];

async function firstTranscript(lang) {
  const base = path.join(server.root, 'public', lang, 'transcripts');
  const files = (await readdir(base, { recursive: true })).filter((f) => f.endsWith('index.html')).sort();
  assert.ok(files.length > 0, `no ${lang} transcripts were built`);
  return `/${lang}/transcripts/${path.dirname(files[0]).split(path.sep).join('/')}/`;
}

for (const lang of ['en', 'fr']) {
  test(`no axe violations on the reading pages and every account screen (${lang})`, async () => {
    const page = await newPage(browser, lang);
    const pages = [`/${lang}/`, await firstTranscript(lang), ...SCREENS.map((s) => `/${lang}/account/${s}/`)];
    const found = {};
    for (const url of pages) {
      const res = await page.goto(server.url + url);
      assert.equal(res.status(), 200, `${url} answers 200`);
      assert.equal(await page.getAttribute('html', 'lang'), lang);
      const violations = await axe(page);
      if (violations.length) found[url] = violations;
      if (url.includes('/account/')) await shot(page, `${lang}-screen-${url.split('/')[3]}`);
    }
    assert.deepEqual(found, {}, JSON.stringify(found, null, 2));
    assert.deepEqual(page.jsErrors, []);
    await page.context().close();
  });

  test(`account screens: labelled fields, errors tied to them, announced (${lang})`, async () => {
    const page = await newPage(browser, lang);
    await page.goto(`${server.url}/${lang}/account/register/`);
    // Submitting empty: every field says why, focus lands on the first, the status region speaks.
    await page.keyboard.press('Tab');
    await page.click('[data-form="signup"] [type="submit"]');
    const email = page.locator('#register-email');
    assert.equal(await email.getAttribute('aria-invalid'), 'true');
    assert.ok((await email.getAttribute('aria-describedby')).split(' ').includes('register-email-error'));
    assert.notEqual((await page.locator('#register-email-error').textContent()).trim(), '');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'register-email');
    const status = page.locator('[data-form="signup"] [data-status]');
    assert.equal(await status.getAttribute('aria-live'), 'polite');
    assert.notEqual((await status.textContent()).trim(), '');
    // Every input has a label.
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('main input')]
      .filter((i) => i.type !== 'hidden' && !(i.labels && i.labels.length)).map((i) => i.id || i.name));
    assert.deepEqual(unlabelled, []);
    // The code field asks phones for digits and offers the one-time code.
    await page.goto(`${server.url}/${lang}/account/verify/`);
    assert.equal(await page.getAttribute('#verify-code', 'inputmode'), 'numeric');
    assert.equal(await page.getAttribute('#verify-code', 'autocomplete'), 'one-time-code');
    await page.context().close();
  });
}

// Phones: at 360 CSS px nothing scrolls sideways (WCAG 1.4.10, reflow), every search field is wide
// enough to type in, and the search and 404 pages (two search forms) pass axe too.
for (const lang of ['en', 'fr']) {
  test(`a 360 px phone: no sideways scrolling, usable search fields (${lang})`, async () => {
    const context = await browser.newContext({ locale: lang, viewport: { width: 360, height: 740 } });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const pages = [`/${lang}/`, await firstTranscript(lang), `/${lang}/topics/`, `/${lang}/speakers/`, `/${lang}/search/?q=OTAN`, `/${lang}/404.html`, '/404.html'];
    const found = {};
    for (const url of pages) {
      await page.goto(server.url + url);
      if (url.includes('/search/')) await page.locator('.pagefind-ui__search-input').waitFor();
      const layout = await page.evaluate(() => ({
        overflow: document.scrollingElement.scrollWidth - window.innerWidth,
        narrow: [...document.querySelectorAll('input[type=search], .pagefind-ui__search-input')]
          .filter((el) => el.offsetParent !== null && el.getBoundingClientRect().width < 120)
          .map((el) => `#${el.id || el.className} ${Math.round(el.getBoundingClientRect().width)} px`),
      }));
      const problems = [];
      if (layout.overflow > 0) problems.push(`scrolls ${layout.overflow} px sideways`);
      problems.push(...layout.narrow.map((n) => `narrow field ${n}`));
      if (url.includes('/search/') || url.endsWith('404.html')) {
        problems.push(...(await axe(page)).map((v) => `axe ${v.id}: ${v.nodes.join(', ')}`));
      }
      if (problems.length) found[url] = problems;
    }
    assert.deepEqual(found, {});
    assert.deepEqual(errors, []);
    await context.close();
  });
}

// WCAG 1.4.11: a text field on the page background is found by its border alone, so the border
// needs 3:1 against the background, in the light and the dark scheme. (axe does not check this.)
test('every text field border has 3:1 contrast with the background, light and dark', async () => {
  const page = await newPage(browser, 'en');
  const weak = [];
  for (const colorScheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme });
    for (const url of ['/en/404.html', '/fr/account/register/', '/fr/account/signin/']) {
      await page.goto(server.url + url);
      const found = await page.evaluate(() => {
        const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
        const lum = ([r, g, b]) => {
          const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
          return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
        };
        const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
        const backdrop = (el) => {
          for (let e = el.parentElement; e; e = e.parentElement) {
            const c = rgb(getComputedStyle(e).backgroundColor);
            if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
          }
          return [255, 255, 255];
        };
        const fields = [...document.querySelectorAll('input[type=search], input[type=email], input[type=password], input[type=text]')]
          .filter((el) => el.offsetParent !== null);
        return {
          count: fields.length,
          weak: fields
            .map((el) => ({ id: el.id, ratio: ratio(rgb(getComputedStyle(el).borderTopColor), backdrop(el)) }))
            .filter((f) => f.ratio < 3),
        };
      });
      assert.ok(found.count > 0, `${url} shows a text field`);
      weak.push(...found.weak.map((f) => `${colorScheme} ${url} #${f.id} ${f.ratio.toFixed(2)}:1`));
    }
  }
  assert.deepEqual(weak, []);
  await page.context().close();
});
