// The reader's whole account journey in a real (headless) browser, in English and in French:
// a signed-out download click leads to sign-in and back, register (live password rules, a weak
// password refused), the resend cool-down is visible, a wrong code shows the translated error,
// verify, subscribe, download the full video and a part (bytes compared with content/media),
// sign out, sign in, reset the password, land back on the original page, sign in with the new
// password. axe-core checks every screen on the way; screenshots go to tests/artifacts/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { serveAndBrowse, REPO, ARTIFACTS, newPage, codeFor, mailsTo, axe, shot, testEmail } from './harness.mjs';

let server;
let browser;
serveAndBrowse((s, b) => { server = s; browser = b; });

/** Path of the first transcript page of `lang` that has download buttons. */
async function transcriptWithVideo(lang) {
  const base = path.join(server.root, 'public', lang, 'transcripts');
  const files = (await readdir(base, { recursive: true })).filter((f) => f.endsWith('index.html')).sort();
  for (const f of files) {
    const html = await readFile(path.join(base, f), 'utf8');
    if (/class="download[^"]*"[^>]*data-video=/.test(html)) return `/${lang}/transcripts/${path.dirname(f).split(path.sep).join('/')}/`;
  }
  throw new Error(`no ${lang} transcript page with download buttons under ${base}`);
}

async function strings(page) {
  return JSON.parse(await page.locator('#account-i18n').textContent());
}

async function assertAccessible(page, label) {
  const violations = await axe(page);
  assert.deepEqual(violations, [], `axe violations on ${label}:\n${JSON.stringify(violations, null, 2)}`);
}

async function screen(page, name, label) {
  await shot(page, name);
  await assertAccessible(page, label);
}

/** Waits for one more email to `email` than `before` and returns its code. */
async function nextCode(email, before) {
  return codeFor(server.state, email, before + 1);
}

async function mailCount(email) {
  return (await mailsTo(server.state, email)).length;
}

/** Clicks a download button and returns the downloaded bytes. */
async function download(page, part) {
  const link = page.locator(`a.download[data-part="${part}"]`).first();
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 20000 }), link.click()]);
  const file = await dl.path();
  return { bytes: await readFile(file), name: dl.suggestedFilename(), video: await link.getAttribute('data-video') };
}

async function signIn(page, email, password) {
  await page.fill('#signin-email', email);
  await page.fill('#signin-password', password);
  await page.click('[data-form="login"] [type="submit"]');
}

for (const lang of ['en', 'fr']) {
  test(`account journey (${lang})`, { timeout: 5 * 60 * 1000 }, async (ctx) => {
    const page = await newPage(browser, lang);
    const p = (n, name) => `${lang}-${String(n).padStart(2, '0')}-${name}`;
    const email = testEmail(`journey-${lang}`);
    const password = 'Quarante-2-Cafés!sansSucre';
    const newPassword = 'Another-7-Long-Passphrase?';
    const transcript = await transcriptWithVideo(lang);

    // Signed out: a download click leads to sign-in, which remembers where to come back to.
    await page.goto(server.url + transcript);
    await screen(page, p(1, 'transcript'), `${lang} transcript`);
    await page.locator('a.download[data-part="full"]').first().click();
    await page.waitForURL(/\/account\/signin\/\?/);
    const signinUrl = new URL(page.url());
    assert.equal(signinUrl.pathname, `/${lang}/account/signin/`);
    assert.equal(signinUrl.searchParams.get('return').split('#')[0], transcript);
    assert.ok(await page.locator('[data-download-prompt]').isVisible(), 'the sign-in screen says why');
    const t = await strings(page);
    await screen(page, p(2, 'signin-for-download'), `${lang} sign-in (download)`);

    // Register, keeping the return path.
    await page.click('a[href*="/account/register/"]');
    await page.waitForURL(/\/account\/register\/\?return=/);
    await page.fill('#register-email', email);
    await page.fill('#register-password', 'short');
    assert.equal(await page.locator('[data-rule="min_length"]').getAttribute('data-met'), 'false');
    assert.equal(await page.locator('[data-rule="lowercase"]').getAttribute('data-met'), 'true');
    await page.click('[data-form="signup"] [type="submit"]');
    assert.equal(await page.locator('#register-password').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('#register-password-error').textContent(), `${t.error_prefix} ${t['errors.weak_password']}`);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'register-password', 'focus goes to the field in error');
    await screen(page, p(3, 'register-weak-password'), `${lang} register (weak password)`);
    const before = await mailCount(email);
    await page.fill('#register-password', password);
    for (const rule of await page.locator('[data-rule]').all()) assert.equal(await rule.getAttribute('data-met'), 'true');
    const signupSentAt = Date.now(); // the start of this address's one-code-a-minute window
    await page.click('[data-form="signup"] [type="submit"]');

    // Verify: cool-down visible, wrong code refused with the translated message, right code accepted.
    await page.waitForURL(/\/account\/verify\/\?return=/);
    const code = await nextCode(email, before);
    assert.ok(await page.locator('[data-resend-button]').isDisabled(), 'resend waits for the cool-down');
    const countdown = await page.locator('[data-countdown]').textContent();
    assert.match(countdown, /\d+/);
    assert.equal(countdown, t['verify.resend_wait'].replace('{seconds}', countdown.match(/\d+/)[0]));
    assert.ok((await page.locator('[data-sent-text]').textContent()).includes(email));
    await screen(page, p(4, 'verify'), `${lang} verify`);
    const wrong = String((Number(code) + 1) % 1000000).padStart(6, '0');
    await page.fill('#verify-code', wrong);
    await page.click('[data-form="verify"] [type="submit"]');
    await page.locator('#verify-code[aria-invalid="true"]').waitFor();
    assert.equal(await page.locator('#verify-code-error').textContent(), `${t.error_prefix} ${t['errors.invalid_code']}`);
    assert.equal(await page.locator('[data-form="verify"] [data-status]').textContent(), t['errors.invalid_code']);
    await screen(page, p(5, 'verify-wrong-code'), `${lang} verify (wrong code)`);
    await page.fill('#verify-code', code);
    await page.click('[data-form="verify"] [type="submit"]');

    // Welcome: subscribe to the newsletter.
    await page.waitForURL(/\/account\/welcome\//);
    await screen(page, p(6, 'welcome'), `${lang} welcome`);
    await page.click('[data-newsletter-button]');
    await page.locator('[data-form="newsletter"] [data-status][data-kind="ok"]').waitFor();
    assert.equal(await page.locator('[data-form="newsletter"] [data-status]').textContent(), t['welcome.subscribed']);
    const me = await page.evaluate(() => fetch('/api/me').then((r) => r.json()));
    assert.equal(me.subscribed, true);
    assert.equal(me.verified, true);
    await screen(page, p(7, 'welcome-subscribed'), `${lang} welcome (subscribed)`);

    // Back to the transcript; the header shows who is signed in; downloads give the real files.
    await page.click('[data-return-link]');
    await page.waitForURL((u) => u.pathname === transcript);
    await page.locator('[data-account-nav] .account-nav-email').waitFor();
    assert.equal(await page.locator('[data-account-nav] .account-nav-email').textContent(), t['nav.signed_in_as'].replace('{email}', email));
    assert.ok(!(await page.locator('[data-signin-link]').isVisible()), 'no sign-in link while signed in');
    await screen(page, p(8, 'transcript-signed-in'), `${lang} transcript (signed in)`);
    await page.locator('header').first().screenshot({ path: path.join(ARTIFACTS, `${p(8, 'header-signed-in')}.png`) });
    for (const part of ['full', 'opening-statement']) {
      const got = await download(page, part);
      const expected = await readFile(path.join(REPO, 'content', 'media', got.video, `${part}.mp4`));
      assert.ok(got.bytes.length > 0);
      assert.ok(got.bytes.equals(expected), `downloaded ${part} differs from content/media/${got.video}/${part}.mp4`);
      assert.match(got.name, new RegExp(`${part}\\.mp4$`));
    }

    // Sign out, sign in again from the header: back on the same page.
    await page.click('.account-nav-signout');
    await page.locator('[data-account-nav] [role="status"]').waitFor();
    assert.equal(await page.locator('[data-account-nav] [role="status"]').textContent(), t['nav.signed_out']);
    assert.equal((await page.evaluate(() => fetch('/api/me').then((r) => r.status))), 401);
    assert.ok(await page.locator('[data-signin-link]').isVisible(), 'the sign-in link is back');
    await page.click('[data-signin-link]');
    await page.waitForURL(/\/account\/signin\/\?return=/);
    await signIn(page, email, password);
    await page.waitForURL((u) => u.pathname === transcript);
    await page.locator('[data-account-nav] .account-nav-email').waitFor();

    // Reset the password (signed out), then land back on the transcript and sign in with it.
    await page.click('.account-nav-signout');
    await page.locator('[data-account-nav] [role="status"]').waitFor();
    await page.click('[data-signin-link]');
    await page.waitForURL(/\/account\/signin\/\?return=/);
    await page.click('a[href*="/account/reset/"]');
    await page.waitForURL(/\/account\/reset\/\?return=/);
    await screen(page, p(9, 'reset-email'), `${lang} reset (email)`);
    const beforeReset = await mailCount(email);
    await page.fill('#reset-email', email);
    // One code a minute per address: the signup code was sent moments ago, so the server refuses
    // and the screen says, in the page language, how long to wait.
    await page.click('[data-form="reset-email"] [type="submit"]');
    const limited = page.locator('[data-form="reset-email"] [data-status]:not(:empty)');
    const codeStep = page.locator('[data-step="code"]:not([hidden])');
    await limited.or(codeStep).waitFor();
    // The window opened when the signup code was sent: well inside it the server must refuse,
    // well after it it must send a code; only the seconds around the boundary accept either.
    const sinceSignup = Date.now() - signupSentAt;
    if (sinceSignup < 55_000) {
      assert.ok(await limited.isVisible(), `a reset ${sinceSignup} ms after signup must be rate limited`);
    } else if (sinceSignup > 70_000) {
      assert.ok(await codeStep.isVisible(), `a reset ${sinceSignup} ms after signup must send a code`);
    }
    if (await limited.isVisible()) {
      const limitedText = await limited.textContent();
      const wait = Number((limitedText.match(/\d+/) || [])[0]);
      assert.ok(wait > 0 && wait <= 60, `rate-limit message gives the wait: ${limitedText}`);
      assert.equal(limitedText, t['errors.rate_limited'].replace('{seconds}', String(wait)));
      await screen(page, p(10, 'reset-rate-limited'), `${lang} reset (rate limited)`);
      await page.waitForTimeout((wait + 1) * 1000);
      await page.click('[data-form="reset-email"] [type="submit"]');
    } else {
      ctx.diagnostic(`${sinceSignup} ms since signup: the rate-limited reset message was not shown (a code was sent, as it must be after the window)`);
    }
    await codeStep.waitFor();
    const resetCode = await nextCode(email, beforeReset);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'reset-code');
    await screen(page, p(11, 'reset-code'), `${lang} reset (code)`);
    await page.fill('#reset-code', resetCode);
    await page.click('[data-form="reset-code"] [type="submit"]');
    await page.locator('[data-step="password"]:not([hidden])').waitFor();
    await screen(page, p(12, 'reset-password'), `${lang} reset (new password)`);
    await page.fill('#reset-password', newPassword);
    await page.click('[data-form="reset-password"] [type="submit"]');
    await page.locator('[data-step="done"]:not([hidden])').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'reset-done-title');
    await screen(page, p(13, 'reset-done'), `${lang} reset (done)`);
    await page.click('[data-step="done"] [data-return-link]');
    await page.waitForURL((u) => u.pathname === transcript);

    await page.click('[data-signin-link]');
    await page.waitForURL(/\/account\/signin\/\?return=/);
    await signIn(page, email, password);
    await page.locator('#signin-password[aria-invalid="true"], [data-form="login"] [data-status]:not(:empty)').first().waitFor();
    assert.equal(await page.locator('[data-form="login"] [data-status]').textContent(), t['errors.invalid_credentials'], 'the old password no longer works');
    await screen(page, p(14, 'signin-old-password'), `${lang} sign-in (old password)`);
    await signIn(page, email, newPassword);
    await page.waitForURL((u) => u.pathname === transcript);
    await page.locator('[data-account-nav] .account-nav-email').waitFor();
    await shot(page, p(15, 'back-signed-in'));

    assert.deepEqual(page.jsErrors, [], 'no script errors');
    await page.context().close();
  });
}

// Without JavaScript a download button is a plain link: followed without a session it lands on
// the sign-in page of the page's language, set to come back, never on a JSON error.
test('without JavaScript, a download link leads to sign-in and back', async () => {
  const context = await browser.newContext({ locale: 'fr-FR', javaScriptEnabled: false });
  const page = await context.newPage();
  const from = await transcriptWithVideo('fr');
  await page.goto(server.url + from);
  await page.locator('a.download[data-part="full"]').first().click();
  await page.waitForURL(/\/fr\/account\/signin\//);
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('reason'), 'download');
  assert.equal(url.searchParams.get('return'), from);
  assert.equal(await page.getAttribute('html', 'lang'), 'fr');
  await context.close();
});
