// "Return to the page you were on" only ever accepts a path of this site: account.js's
// safeReturnPath, run in a sandbox, against paths that must pass and tricks that must not.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import vm from 'node:vm';
import { REPO } from './harness.mjs';

async function loadSafeReturnPath() {
  const source = await readFile(path.join(REPO, 'themes', 'default', 'static', 'account.js'), 'utf8');
  const document = {
    documentElement: { getAttribute: () => 'en' },
    readyState: 'loading',
    addEventListener: () => {},
  };
  const window = { location: { origin: 'https://press.example.org', search: '' } };
  vm.runInNewContext(source, { window, document, URL, URLSearchParams, sessionStorage: {} });
  assert.equal(typeof window.PressroomAccount?.safeReturnPath, 'function', 'account.js exposes safeReturnPath');
  return window.PressroomAccount.safeReturnPath;
}

test('accepts paths of this site', async () => {
  const safe = await loadSafeReturnPath();
  for (const p of ['/', '/en/', '/fr/transcripts/2018/04/26/pre-ministerial/', '/en/search/?q=nato', '/en/x/#download-full', '/fr/caf%C3%A9/']) {
    assert.equal(safe(p), p, p);
  }
});

test('refuses anything that could leave the site', async () => {
  const safe = await loadSafeReturnPath();
  const bad = [
    '', 'en/', 'https://evil.example/', '//evil.example/', '/\\evil.example/', '\\\\evil.example',
    'javascript:alert(1)', '/%2F%2Fevil.example', '/%5Cevil.example', '/en/\u0000', '/en/\n/x', '/en/\t',
    ' /en/', '/en\\..\\x', 'data:text/html,hi', '/' + 'a'.repeat(3000), null, undefined, 42, {},
  ];
  for (const p of bad) assert.equal(safe(p), null, JSON.stringify(p));
});
