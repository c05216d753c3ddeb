// Harness for the browser tests: starts `pressroom serve` on a free 127.0.0.1 port over a temp copy
// of the site (content, themes, pressroom.toml) with a temp state dir, launches the system Chromium
// headless through playwright-core (never a downloaded browser), reads the emailed codes from the
// outbox, injects axe-core and saves screenshots under tests/artifacts/.
//
// Environment: PRESSROOM_BIN (a built `pressroom` binary; default: `cargo run -q -p generator --bin
// pressroom --`), CHROMIUM (default /usr/bin/chromium).

import { spawn } from 'node:child_process';
import { cp, mkdtemp, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { before, after } from 'node:test';

const require = createRequire(import.meta.url);
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ARTIFACTS = path.join(REPO, 'tests', 'artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const START_TIMEOUT_MS = 10 * 60 * 1000; // the first run may compile the binary

/**
 * A running `pressroom serve` (`watch`: rebuild on changes): `{url, root, state, stop(), output()}`.
 * Fails loudly if it doesn't come up.
 */
export async function startServer({ watch = false } = {}) {
  const root = await mkdtemp(path.join(tmpdir(), 'pressroom-site-'));
  const state = path.join(root, '.pressroom');
  for (const entry of ['content', 'themes', 'pressroom.toml']) {
    await cp(path.join(REPO, entry), path.join(root, entry), { recursive: true });
  }
  const [cmd, ...pre] = process.env.PRESSROOM_BIN
    ? [process.env.PRESSROOM_BIN]
    : ['cargo', 'run', '-q', '-p', 'generator', '--bin', 'pressroom', '--'];
  const args = [...pre, 'serve', '--root', root, '--port', '0', '--state', state, ...(watch ? [] : ['--no-watch'])];
  const child = spawn(cmd, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pressroom serve did not print its URL within ${START_TIMEOUT_MS / 1000} s:\n${log}`)), START_TIMEOUT_MS);
    const onData = (chunk) => {
      log += chunk.toString();
      const m = log.match(/http:\/\/127\.0\.0\.1:(\d+)\//);
      if (m) { clearTimeout(timer); resolve(`http://127.0.0.1:${m[1]}`); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`pressroom serve exited with ${code} before serving:\n${log}`)); });
  });
  // Keep collecting output (codes, rebuild lines) for diagnostics.
  return {
    url,
    root,
    state,
    output: () => log,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * Starts `pressroom serve` (with `options`, as `startServer`) and Chromium before a test file's
 * tests, hands both to `use`, and stops both after the file's tests.
 */
export function serveAndBrowse(use, options = {}) {
  let server;
  let browser;
  before(async () => {
    server = await startServer(options);
    browser = await launchBrowser();
    use(server, browser);
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });
}

/** Headless system Chromium. */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: run ./tests/setup (apt-get install -y chromium)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

/** A fresh context (own cookies and sessionStorage) with the page language preferred. */
export async function newPage(browser, lang = 'en') {
  const context = await browser.newContext({ locale: lang === 'fr' ? 'fr-FR' : 'en-GB', acceptDownloads: true, viewport: { width: 420, height: 860 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.jsErrors = errors;
  return page;
}

/** Decodes one MIME part body by its Content-Transfer-Encoding. */
function decodePart(headers, body) {
  const enc = (headers.match(/content-transfer-encoding:\s*([\w-]+)/i) || [])[1]?.toLowerCase();
  if (enc === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (enc === 'quoted-printable') {
    const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return body;
}

/** Text of an .eml: headers + every decoded part. */
export function emlText(raw) {
  const out = [];
  const chunks = raw.split(/\r?\n--[^\r\n]+\r?\n|\r?\n--[^\r\n]+--/);
  for (const c of chunks) {
    const i = c.search(/\r?\n\r?\n/);
    if (i < 0) { out.push(c); continue; }
    out.push(c.slice(0, i), decodePart(c.slice(0, i), c.slice(i).trim()));
  }
  return out.join('\n');
}

/** Every email in the outbox sent to `email`, oldest first: `[{file, text}]`. */
export async function mailsTo(state, email) {
  const dir = path.join(state, 'outbox');
  if (!existsSync(dir)) return [];
  const files = (await readdir(dir)).filter((f) => f.endsWith('.eml'));
  const mails = [];
  for (const f of files) {
    const p = path.join(dir, f);
    const raw = await readFile(p, 'utf8');
    const to = (raw.match(/^To:\s*(.+)$/im) || [])[1] || '';
    if (to.toLowerCase().includes(email.toLowerCase())) mails.push({ file: f, mtime: (await stat(p)).mtimeMs, text: emlText(raw) });
  }
  return mails.sort((a, b) => a.mtime - b.mtime || a.file.localeCompare(b.file));
}

/** Waits for the `n`th email to `email` and returns its 6-digit code. */
export async function codeFor(state, email, n, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const mails = await mailsTo(state, email);
    if (mails.length >= n) {
      const m = mails[n - 1].text.match(/\b(\d{6})\b/);
      if (!m) throw new Error(`email ${mails[n - 1].file} has no 6-digit code:\n${mails[n - 1].text}`);
      return m[1];
    }
    if (Date.now() > deadline) throw new Error(`expected ${n} email(s) to the test address, found ${mails.length}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs axe-core in the page; returns its violations (WCAG 2.0/2.1/2.2 A and AA). */
export async function axe(page) {
  const source = await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.addScriptTag({ content: source });
  return page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
}

/** Saves a full-page screenshot as tests/artifacts/<name>.png. */
export async function shot(page, name) {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** A unique test address (the outbox is per server, but keep them apart anyway). */
export function testEmail(tag) {
  return `${tag}.${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}@example.org`;
}
