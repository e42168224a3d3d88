/** Redirect URI registration (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700 §2.1) and matching (RFC 9700 §4.1.1, RFC 8252 §7.3). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkRedirectUri,
  MAX_REDIRECT_URI_LENGTH,
  matchRedirectUri,
  RedirectUriError,
} from '../../src/oauth-clients/redirect-uris.js';

const refused = { name: 'RedirectUriError', code: 'invalid_redirect_uri' };

describe('checkRedirectUri', () => {
  test('accepts https, http on a loopback literal or localhost, and a reverse-domain private-use scheme, unchanged', () => {
    for (const uri of [
      'https://app.example.com/callback',
      'https://app.example.com/cb?tenant=1',
      'https://app.example.com',
      'http://127.0.0.1/cb',
      'http://127.0.0.1:8080/cb',
      'http://[::1]/cb',
      'http://localhost:3000/cb',
      'com.example.app:/oauth2redirect',
      'com.example.app:/cb?x=1',
    ]) {
      assert.equal(checkRedirectUri(uri), uri, uri);
    }
  });

  test('refuses a fragment (RFC 6749 §3.1.2), even an empty one', () => {
    assert.throws(() => checkRedirectUri('https://app.example.com/cb#frag'), { ...refused, message: /fragment/ });
    assert.throws(() => checkRedirectUri('https://app.example.com/cb#'), { ...refused, message: /fragment/ });
  });

  test('refuses user information', () => {
    assert.throws(() => checkRedirectUri('https://user@app.example.com/cb'), { ...refused, message: /user information/ });
    assert.throws(() => checkRedirectUri('https://user:pw@app.example.com/cb'), { ...refused, message: /user information/ });
    assert.throws(() => checkRedirectUri('com.example.app://user@host/cb'), { ...refused, message: /user information/ });
  });

  test('refuses plain http off the loopback interface (RFC 9700 §2.1)', () => {
    for (const uri of [
      'http://app.example.com/cb',
      'http://10.0.0.1/cb',
      'http://127.0.0.2/cb',
      'http://localhost.example.com/cb',
    ]) {
      assert.throws(() => checkRedirectUri(uri), { ...refused, message: /plain http/ }, uri);
    }
  });

  test('refuses a scheme that is neither web nor reverse-domain private-use (RFC 8252 §7.1)', () => {
    for (const uri of ['myapp:/cb', 'javascript:alert(1)', 'data:text/html,x', 'file:///etc/passwd', 'ftp://example.com/']) {
      assert.throws(() => checkRedirectUri(uri), { ...refused, message: /scheme/ }, uri);
    }
  });

  test('refuses what is not an absolute URI, the empty string and an overlong URI', () => {
    assert.throws(() => checkRedirectUri('/callback'), { ...refused, message: /absolute/ });
    assert.throws(() => checkRedirectUri('app.example.com/cb'), { ...refused, message: /absolute/ });
    assert.throws(() => checkRedirectUri(''), refused);
    const long = `https://app.example.com/${'a'.repeat(MAX_REDIRECT_URI_LENGTH)}`;
    assert.throws(() => checkRedirectUri(long), refused);
    const longest = `https://app.example.com/${'a'.repeat(MAX_REDIRECT_URI_LENGTH - 'https://app.example.com/'.length)}`;
    assert.equal(checkRedirectUri(longest), longest);
  });

  test('refuses a URI that is not in the form the URL parser writes, naming that form (exact comparison needs one spelling)', () => {
    for (const [uri, canonical] of [
      ['https://App.Example.com/cb', 'https://app.example.com/cb'],
      ['HTTPS://app.example.com/cb', 'https://app.example.com/cb'],
      ['https://app.example.com/a/../cb', 'https://app.example.com/cb'],
      ['https://app.example.com:443/cb', 'https://app.example.com/cb'],
      ['https://app.example.com/c b', 'https://app.example.com/c%20b'],
      ['Com.Example.App:/cb', 'com.example.app:/cb'],
      ['com.example.app:/a/../cb', 'com.example.app:/cb'],
      ['com.example.app:/cb\t', 'com.example.app:/cb'],
    ]) {
      assert.throws(
        () => checkRedirectUri(uri as string),
        (e: unknown) => e instanceof RedirectUriError && e.message.includes('canonical') && e.message.includes(`"${canonical}"`),
        uri,
      );
    }
  });
});

describe('matchRedirectUri', () => {
  const registered = ['https://app.example.com/callback', 'com.example.app:/oauth', 'http://127.0.0.1/cb', 'http://[::1]/cb'];

  test('an exactly equal URI matches and the registered one is answered', () => {
    assert.equal(matchRedirectUri(registered, 'https://app.example.com/callback'), 'https://app.example.com/callback');
    assert.equal(matchRedirectUri(registered, 'com.example.app:/oauth'), 'com.example.app:/oauth');
    assert.equal(matchRedirectUri(registered, 'http://127.0.0.1/cb'), 'http://127.0.0.1/cb');
  });

  test('a URI one character away does not match (no prefix, case or normalization leeway)', () => {
    for (const presented of [
      'https://app.example.com/callbacks',
      'https://app.example.com/callbac',
      'https://app.example.com/Callback',
      'https://app.example.com/callback/',
      'https://app.example.co/callback',
      'https://app.example.com/callback?',
      'https://app.example.com/callback#',
      'http://app.example.com/callback',
      'HTTPS://app.example.com/callback',
      'https://app.example.com:443/callback',
      'com.example.app:/oauth2',
      'com.example.apq:/oauth',
    ]) {
      assert.equal(matchRedirectUri(registered, presented), undefined, presented);
    }
  });

  test('a loopback http URI matches on any port (RFC 8252 §7.3), the rest compared exactly', () => {
    assert.equal(matchRedirectUri(registered, 'http://127.0.0.1:51004/cb'), 'http://127.0.0.1:51004/cb');
    assert.equal(matchRedirectUri(registered, 'http://[::1]:8080/cb'), 'http://[::1]:8080/cb');
    assert.equal(matchRedirectUri(['http://127.0.0.1:3000/cb'], 'http://127.0.0.1:4000/cb'), 'http://127.0.0.1:4000/cb');
    for (const presented of [
      'http://127.0.0.1:51004/cb2',
      'http://127.0.0.1:51004/Cb',
      'http://127.0.0.1:51004/cb?x=1',
      'http://127.0.0.1:51004/cb#x',
      'http://user@127.0.0.1:51004/cb',
      'http://127.0.0.1:51004/x/../cb',
      'http://[::1]:8080/cb/',
      'https://127.0.0.1:51004/cb',
      'http://localhost:51004/cb',
      'http://127.0.0.2:51004/cb',
    ]) {
      assert.equal(matchRedirectUri(registered, presented), undefined, presented);
    }
  });

  test('a loopback URI registered without a path matches on any port, and only without a path', () => {
    assert.equal(matchRedirectUri(['http://127.0.0.1'], 'http://127.0.0.1:51004'), 'http://127.0.0.1:51004');
    assert.equal(matchRedirectUri(['http://127.0.0.1/'], 'http://127.0.0.1:51004/'), 'http://127.0.0.1:51004/');
    assert.equal(matchRedirectUri(['http://127.0.0.1'], 'http://127.0.0.1:51004/'), undefined, 'a slash is a character');
    assert.equal(matchRedirectUri(['http://127.0.0.1/'], 'http://127.0.0.1:51004'), undefined);
    assert.equal(matchRedirectUri(['http://127.0.0.1'], 'http://127.0.0.1:51004/cb'), undefined);
  });

  test('the port leeway is for loopback literals only: https and localhost URIs match exactly', () => {
    assert.equal(matchRedirectUri(['https://app.example.com/cb'], 'https://app.example.com:8443/cb'), undefined);
    assert.equal(matchRedirectUri(['http://localhost:3000/cb'], 'http://localhost:3001/cb'), undefined);
    assert.equal(matchRedirectUri(['http://localhost:3000/cb'], 'http://localhost:3000/cb'), 'http://localhost:3000/cb');
  });

  test('nothing matches an empty registration, and an overlong presented URI is not parsed', () => {
    assert.equal(matchRedirectUri([], 'https://app.example.com/callback'), undefined);
    const long = `http://127.0.0.1:1/${'a'.repeat(MAX_REDIRECT_URI_LENGTH)}`;
    assert.equal(matchRedirectUri([`http://127.0.0.1/${'a'.repeat(MAX_REDIRECT_URI_LENGTH)}`], long), undefined);
  });
});
