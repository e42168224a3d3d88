/**
 * The hosted sign-in pages as strings (src/http/core/pages.ts): every interpolated value
 * escaped, hidden fields that come back unchanged, the contract's field and button names
 * present exactly once, a CSP whose style hash is the hash of the page's own `<style>`,
 * and the form-action sources of redirect URIs. The same pages in a real browser (axe,
 * keyboard, form submission): test/browser/pages-a11y.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  type ConsentPageView,
  consentPage,
  errorPage,
  escapeHtml,
  formActionSource,
  type LoginPageView,
  loginPage,
  pageHeaders,
  scopeText,
} from '../../src/http/core/pages.js';

/** Ends an attribute, closes the style and opens a script, with both quote kinds and a reference. */
const HOSTILE = `"'><script>alert(1)</script></style><img src=x onerror=alert(2)>&amp;<input name="username">`;
const HOSTILE_ESCAPED =
  '&quot;&#39;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;/style&gt;&lt;img src=x onerror=alert(2)&gt;&amp;amp;&lt;input name=&quot;username&quot;&gt;';

/** The inverse of escapeHtml for the five references it writes. */
function unescapeHtml(s: string): string {
  return s.replace(/&(quot|#39|lt|gt|amp);/g, (_, r: string) =>
    r === 'quot' ? '"' : r === '#39' ? "'" : r === 'lt' ? '<' : r === 'gt' ? '>' : '&',
  );
}

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

/** The hidden fields of a page, in document order, unescaped. */
function hiddenOf(html: string): [string, string][] {
  return [...html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)].map((m) => [
    unescapeHtml(m[1] as string),
    unescapeHtml(m[2] as string),
  ]);
}

/** The opening tag of the element with this id. */
function tagWithId(html: string, id: string): string {
  const m = html.match(new RegExp(`<[a-z]+ [^>]*id="${id}"[^>]*>`));
  assert.ok(m, `an element with id="${id}"`);
  return m[0];
}

function cspOf(headers: Record<string, string>): Map<string, string> {
  return new Map(
    (headers['content-security-policy'] ?? '')
      .split(';')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => {
        const i = d.indexOf(' ');
        return [d.slice(0, i), d.slice(i + 1)] as [string, string];
      }),
  );
}

const HIDDEN = {
  response_type: 'code',
  client_id: 'app',
  redirect_uri: 'https://app.example/cb?x=1&y=2',
  state: `s"t'a<t>e&`,
  code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
  scope: 'openid profile',
  csrf: 'Zm9vYmFy_-',
  unicode: 'é€😀',
};

const LOGIN: LoginPageView = { action: '/authorize', hidden: HIDDEN, clientName: 'Example App' };
const CONSENT: ConsentPageView = {
  action: '/authorize/consent',
  hidden: HIDDEN,
  clientName: 'Example App',
  username: 'alice',
  scopes: ['openid', 'profile'],
};

describe('escapeHtml', () => {
  test('replaces & < > " and \' by character references and leaves other text alone', () => {
    assert.equal(escapeHtml(`&<>"'`), '&amp;&lt;&gt;&quot;&#39;');
    assert.equal(escapeHtml('plain text é€😀 / = `'), 'plain text é€😀 / = `');
    assert.equal(escapeHtml('&amp;'), '&amp;amp;', 'an existing reference is escaped again, not kept');
    assert.equal(escapeHtml(HOSTILE), HOSTILE_ESCAPED);
    assert.equal(unescapeHtml(escapeHtml(HOSTILE)), HOSTILE);
  });
});

describe('every interpolated value is escaped', () => {
  const pages: [string, string][] = [
    [
      'login, every field hostile',
      loginPage({
        action: `/authorize?${HOSTILE}`,
        hidden: { [HOSTILE]: HOSTILE },
        clientName: HOSTILE,
        username: HOSTILE,
        error: HOSTILE,
      }),
    ],
    [
      'consent, every field hostile',
      consentPage({
        action: `/authorize?${HOSTILE}`,
        hidden: { [HOSTILE]: HOSTILE },
        clientName: HOSTILE,
        username: HOSTILE,
        scopes: [HOSTILE],
      }),
    ],
    ['error page, every field hostile', errorPage({ title: HOSTILE, message: HOSTILE })],
  ];
  for (const [name, html] of pages) {
    test(`${name}: the raw value never appears, no script or extra element is created`, () => {
      assert.ok(!html.includes(HOSTILE));
      assert.ok(!/<script/i.test(html));
      assert.ok(!/<img/i.test(html));
      assert.ok(!/<\/style>[\s\S]*<\/style>/.test(html), 'one </style>: the page style');
      assert.ok(html.includes(HOSTILE_ESCAPED));
      // Outside the escaped copies, no quote pair can be closed early: strip them and the page's own markup remains.
      const rest = html.split(HOSTILE_ESCAPED).join('');
      assert.ok(!/onerror|alert\(/.test(rest));
    });
  }

  test('login: the client name, username, error, action and hidden name and value each appear escaped', () => {
    const html = loginPage({
      action: '/a"b',
      hidden: { 'n"1': 'v"1' },
      clientName: 'C"1',
      username: 'U"1',
      error: 'E"1',
    });
    for (const s of ['/a&quot;b', 'n&quot;1', 'v&quot;1', 'C&quot;1', 'U&quot;1', 'E&quot;1']) assert.ok(html.includes(s), s);
    assert.ok(html.includes('<title>Sign in to C&quot;1</title>'));
    assert.ok(html.includes('value="U&quot;1"'));
  });

  test('consent: the client name, username, scopes, action and hidden fields each appear escaped', () => {
    const html = consentPage({
      action: '/a"b',
      hidden: { 'n"1': 'v"1' },
      clientName: 'C"1',
      username: 'U"1',
      scopes: ['S"1'],
    });
    for (const s of ['/a&quot;b', 'n&quot;1', 'v&quot;1', 'C&quot;1', 'U&quot;1', '<li>S&quot;1</li>'])
      assert.ok(html.includes(s), s);
  });
});

describe('hidden fields', () => {
  test('come back unchanged, in order, on the login and the consent page', () => {
    const hidden = { ...HIDDEN, hostile: HOSTILE, empty: '' };
    assert.deepEqual(hiddenOf(loginPage({ ...LOGIN, hidden })), Object.entries(hidden));
    assert.deepEqual(hiddenOf(consentPage({ ...CONSENT, hidden })), Object.entries(hidden));
  });

  test('a hidden field may not take the name of a field of the form', () => {
    for (const name of ['username', 'password', 'decision']) {
      assert.throws(() => loginPage({ ...LOGIN, hidden: { [name]: 'x' } }), RangeError);
      assert.throws(() => consentPage({ ...CONSENT, hidden: { [name]: 'x' } }), RangeError);
    }
  });

  test('the form POSTs to the action', () => {
    assert.ok(loginPage(LOGIN).includes('<form method="post" action="/authorize">'));
    assert.ok(consentPage(CONSENT).includes('<form method="post" action="/authorize/consent">'));
  });
});

describe('the contract of DESIGN.md (Authorization code + PKCE)', () => {
  test('the login page has <input name="username">, <input name="password"> and one <button type="submit">, once each', () => {
    for (const view of [LOGIN, { ...LOGIN, username: 'alice', error: 'Wrong username or password' }]) {
      const html = loginPage({ ...view, hidden: { ...HIDDEN, hostile: HOSTILE } });
      assert.equal(count(html, '<input name="username"'), 1);
      assert.equal(count(html, '<input name="password"'), 1);
      assert.equal(count(html, '<button type="submit">'), 1);
      assert.equal(count(html, '<button'), 1);
      assert.equal(count(html, '<form'), 1);
    }
  });

  test('the consent page has the approve and the deny button, once each, and no other', () => {
    const html = consentPage({ ...CONSENT, hidden: { ...HIDDEN, hostile: HOSTILE }, clientName: HOSTILE });
    assert.equal(count(html, '<button name="decision" value="approve">'), 1);
    assert.equal(count(html, '<button name="decision" value="deny">'), 1);
    assert.equal(count(html, '<button'), 2);
    assert.equal(count(html, '<form'), 1);
    assert.ok(!html.includes('name="username"') && !html.includes('name="password"'));
  });
});

describe('page structure (WCAG 2.2 AA)', () => {
  const all = [
    loginPage(LOGIN),
    loginPage({ ...LOGIN, error: 'x' }),
    consentPage(CONSENT),
    errorPage({ title: 't', message: 'm' }),
  ];

  test('doctype, lang, charset, viewport, one <main> with one <h1>, one <style>, no script', () => {
    for (const html of all) {
      assert.ok(html.startsWith('<!doctype html>\n<html lang="en">'));
      assert.ok(html.includes('<meta charset="utf-8">'));
      assert.ok(html.includes('<meta name="viewport" content="width=device-width, initial-scale=1">'));
      assert.equal(count(html, '<main>'), 1);
      assert.equal(count(html, '<h1>'), 1);
      assert.equal(count(html, '<style>'), 1);
      assert.ok(!/<script|\son[a-z]+=|javascript:/i.test(html));
    }
  });

  test('the title names the page and the client', () => {
    assert.match(loginPage(LOGIN), /<title>Sign in to Example App<\/title>/);
    assert.match(consentPage(CONSENT), /<title>Allow access to Example App\?<\/title>/);
    assert.match(errorPage({ title: 'Unknown client', message: 'm' }), /<title>Unknown client<\/title>/);
  });

  test('login: each input has a label, its autocomplete token and required; autofocus on the username', () => {
    const html = loginPage(LOGIN);
    const user = tagWithId(html, 'username');
    const pass = tagWithId(html, 'password');
    assert.ok(html.includes('<label for="username">Username</label>'));
    assert.ok(html.includes('<label for="password">Password</label>'));
    assert.match(user, / autocomplete="username"/);
    assert.match(pass, / autocomplete="current-password"/);
    assert.match(pass, / type="password"/);
    for (const tag of [user, pass]) {
      assert.match(tag, / required/);
      assert.doesNotMatch(tag, /aria-invalid|aria-describedby/);
    }
    assert.equal(count(html, ' autofocus'), 1);
    assert.match(user, / autofocus/);
    assert.doesNotMatch(html, /role="alert"/);
  });

  test('login with the username prefilled: the value is set and autofocus moves to the password', () => {
    const html = loginPage({ ...LOGIN, username: 'alice' });
    assert.match(tagWithId(html, 'username'), / value="alice"/);
    assert.equal(count(html, ' autofocus'), 1);
    assert.match(tagWithId(html, 'password'), / autofocus/);
    assert.doesNotMatch(tagWithId(html, 'password'), / value=/, 'a password is never written back');
  });

  test('login with an error: a role="alert" element that both inputs mark themselves invalid and described by', () => {
    const html = loginPage({ ...LOGIN, username: 'alice', error: 'Too many attempts; try again in 60 seconds' });
    const alert = tagWithId(html, 'login-error');
    assert.match(alert, /role="alert"/);
    assert.ok(html.includes('role="alert">Too many attempts; try again in 60 seconds</p>'));
    for (const id of ['username', 'password']) {
      const tag = tagWithId(html, id);
      assert.match(tag, / aria-invalid="true"/);
      assert.match(tag, / aria-describedby="login-error"/);
    }
    assert.ok(html.indexOf('role="alert"') < html.indexOf('<form'), 'the message precedes the form');
  });

  test('consent: the user, the client and each scope in words; unknown scopes as they are, once each', () => {
    const html = consentPage({
      ...CONSENT,
      scopes: ['openid', 'profile', 'offline_access', 'orders:read', 'openid'],
    });
    assert.match(html, /Signed in as <strong>alice<\/strong>/);
    assert.match(html, /<strong>Example App<\/strong> asks for:/);
    const items = [...html.matchAll(/<li>([^<]*)<\/li>/g)].map((m) => m[1]);
    assert.deepEqual(items, ['Confirm your identity', 'Your username', 'Stay signed in', 'orders:read']);
    assert.equal(scopeText('toString'), 'toString', 'no inherited property is taken for a description');
  });

  test('consent without a scope says what is asked without an empty list', () => {
    const html = consentPage({ ...CONSENT, scopes: [] });
    assert.doesNotMatch(html, /<ul>/);
    assert.match(html, /asks for access to your account/);
  });

  test('the error page has no form', () => {
    const html = errorPage({ title: 'Unregistered redirect URI', message: 'The application sent an unknown redirect URI.' });
    assert.doesNotMatch(html, /<form|<input|<button/);
    assert.match(html, /<h1>Unregistered redirect URI<\/h1>\n<p>The application sent an unknown redirect URI.<\/p>/);
  });
});

describe('pageHeaders', () => {
  test('no-store, nosniff, DENY, no-referrer, text/html in UTF-8', () => {
    const h = pageHeaders();
    assert.equal(h['content-type'], 'text/html; charset=utf-8');
    assert.equal(h['cache-control'], 'no-store');
    assert.equal(h.pragma, 'no-cache');
    assert.equal(h['x-frame-options'], 'DENY');
    assert.equal(h['referrer-policy'], 'no-referrer');
    assert.equal(h['x-content-type-options'], 'nosniff');
  });

  test('the CSP allows the page style by the hash of its actual <style> content and nothing else', () => {
    for (const html of [loginPage(LOGIN), consentPage(CONSENT), errorPage({ title: 't', message: 'm' })]) {
      const style = html.match(/<style>([\s\S]*?)<\/style>/)?.[1];
      assert.ok(style);
      const digest = createHash('sha256').update(style, 'utf8').digest('base64');
      const csp = cspOf(pageHeaders());
      assert.equal(csp.get('style-src'), `'sha256-${digest}'`);
      assert.equal(csp.get('default-src'), "'none'");
      assert.equal(csp.get('frame-ancestors'), "'none'");
      assert.equal(csp.get('base-uri'), "'none'");
      assert.equal(csp.get('form-action'), "'self'");
      assert.deepEqual([...csp.keys()].sort(), ['base-uri', 'default-src', 'form-action', 'frame-ancestors', 'style-src']);
      assert.ok(!/unsafe|script-src|\*/.test(pageHeaders()['content-security-policy'] ?? ''));
    }
  });

  test('form-action adds the given targets after self, once each', () => {
    const csp = cspOf(pageHeaders(['https://app.example', 'com.example.app:', 'https://app.example']));
    assert.equal(csp.get('form-action'), "'self' https://app.example com.example.app:");
  });

  test('a target that is not a source expression is refused: nothing can add a directive', () => {
    for (const bad of [
      "https://app.example; script-src 'unsafe-inline'",
      'https://a.example https://b.example',
      "'unsafe-inline'",
      '*',
      '',
    ]) {
      assert.throws(() => pageHeaders([bad]), RangeError, bad);
    }
  });
});

describe('formActionSource', () => {
  test('the origin of an https or http redirect URI, without path, query or default port', () => {
    assert.equal(formActionSource('https://app.example/cb?x=1'), 'https://app.example');
    assert.equal(formActionSource('https://App.Example:443/cb'), 'https://app.example');
    assert.equal(formActionSource('https://app.example:8443/cb'), 'https://app.example:8443');
    assert.equal(formActionSource('http://127.0.0.1:51004/callback'), 'http://127.0.0.1:51004');
    assert.equal(formActionSource('http://localhost:3000/cb'), 'http://localhost:3000');
  });

  test('the scheme when a host source cannot name the host: an IPv6 literal, an underscore', () => {
    assert.equal(formActionSource('http://[::1]:8080/cb'), 'http:');
    assert.equal(formActionSource('https://my_app.example/cb'), 'https:');
    assert.throws(() => pageHeaders(['http://[::1]:8080']), RangeError);
  });

  test('the scheme of a private-use redirect URI (RFC 8252 §7.1)', () => {
    assert.equal(formActionSource('com.example.app:/oauth2redirect'), 'com.example.app:');
    assert.equal(formActionSource('com.Example.App:/cb'), 'com.example.app:');
  });

  test('every source it returns is accepted by pageHeaders', () => {
    for (const uri of [
      'https://app.example/cb',
      'http://127.0.0.1:1/cb',
      'http://[::1]:1/cb',
      'https://a_b.example/',
      'com.example.app:/cb',
    ]) {
      assert.doesNotThrow(() => pageHeaders([formActionSource(uri)]));
    }
  });

  test('a string that is not an absolute URI is refused', () => {
    for (const bad of ['/cb', '', 'not a uri', 'https://']) assert.throws(() => formActionSource(bad), RangeError, bad);
  });
});
