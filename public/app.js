// The demo page: drives the tessera client against this server.
import { createClient } from '/client.js';

const $ = (id) => document.getElementById(id);
// DPoP (RFC 9449): the tokens are bound to a non-extractable P-256 key that the client keeps in
// IndexedDB. A copied token is useless without that key, so the page may keep its session in
// sessionStorage and take it up again after a reload: the same key goes on signing the proofs.
// On when the server serves DPoP and this page is at the issuer's origin: a proof's htu is checked
// against the issuer's URL (RFC 9449 §4.3), so a page reached under another name could not sign in.
const metadata = await fetch('/.well-known/oauth-authorization-server')
  .then((res) => (res.ok ? res.json() : {}))
  .catch(() => ({}));
const dpop = Array.isArray(metadata.dpop_signing_alg_values_supported) && originOf(metadata.issuer) === location.origin;
const client = createClient({ refreshAheadSeconds: 5, dpop });
const STORED = 'tessera-demo-session';
const usedRefreshTokens = [];
let lastRefreshToken = null;
let autoTimer = null;
/** Set when the replay button got the server's reuse answer: the family is revoked from then on. */
let reuseDetected = false;

function log(text, cls = '') {
  const li = document.createElement('li');
  li.className = cls;
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  $('timeline').prepend(li);
}

function originOf(url) {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

function decodeClaims(token) {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    return JSON.parse(atob(parts[1].replace(/-/g, '+').replace(/_/g, '/')));
  } catch {
    return null;
  }
}

function show(section) {
  for (const id of ['signin', 'session', 'ended']) $(id).hidden = id !== section;
  $('devices').hidden = section !== 'session';
  // The timeline stays in view once there is a session: it explains how the session ended.
  if (section === 'session') $('events').hidden = false;
  $('refresh-now').disabled = section !== 'session';
  $('replay').disabled = section !== 'session' || usedRefreshTokens.length === 0;
}

function renderSession(session) {
  const claims = decodeClaims(session.accessToken);
  if (!$('who').textContent && claims?.sub) $('who').textContent = claims.sub;
  $('claims').textContent = claims
    ? JSON.stringify(claims, null, 2)
    : `${session.accessToken.slice(0, 4)}… (an encrypted or opaque token: its claims are not readable by the page; see /me)`;
  $('scheme').textContent = [
    claims ? '(jwt: claims readable, signature checked by the server)' : '',
    session.tokenType === 'DPoP' ? "DPoP-bound: usable only with proofs by this browser's key" : '',
  ]
    .filter(Boolean)
    .join(' · ');
  if (session.refreshToken && session.refreshToken !== lastRefreshToken) {
    if (lastRefreshToken) usedRefreshTokens.push(lastRefreshToken);
    lastRefreshToken = session.refreshToken;
  }
  $('replay').disabled = usedRefreshTokens.length === 0;
}

async function callMe() {
  const res = await client.fetch('/me');
  const body = await res.json().catch(() => ({}));
  $('me-result').textContent = `${res.status}\n${JSON.stringify(body, null, 2)}`;
}

/** "Firefox on Linux" from a User-Agent: enough to tell one's devices apart, not a fingerprint. */
function deviceOf(ua) {
  if (!ua) return 'Unknown device';
  const browser =
    [
      [/Edg\//, 'Edge'],
      [/OPR\//, 'Opera'],
      [/Firefox\//, 'Firefox'],
      [/Chrom(e|ium)\//, 'Chrome'],
      [/Safari\//, 'Safari'],
      [/curl\//, 'curl'],
    ].find(([re]) => re.test(ua))?.[1] ?? ua.split(/[\s/]/)[0];
  const os = [
    [/Android/, 'Android'],
    [/iPhone|iPad|iOS/, 'iOS'],
    [/Windows/, 'Windows'],
    [/Mac OS X|Macintosh/, 'macOS'],
    [/CrOS/, 'ChromeOS'],
    [/Linux/, 'Linux'],
  ].find(([re]) => re.test(ua))?.[1];
  return os ? `${browser} on ${os}` : browser;
}

/** "just now", "5 min ago", "3 h ago", "2 days ago". */
function ago(iso) {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  const d = Math.round(s / 86400);
  return `${d} day${d === 1 ? '' : 's'} ago`;
}

/** The address as the server keeps it (by default the network: 198.51.100.0 reads 198.51.100.x). */
function placeOf(address) {
  if (!address) return 'unknown place';
  if (/^\d+\.\d+\.\d+\.0$/.test(address)) return `near ${address.replace(/\.0$/, '.x')}`;
  return `near ${address}`;
}

/** "signed in with password" from the grant_type that created the session; '' when not recorded. */
function grantOf(grant) {
  if (!grant) return '';
  return `signed in with ${grant.replace(/^urn:ietf:params:oauth:grant-type:/, '').replace(/_/g, ' ')}`;
}

async function loadSessions() {
  if (!client.session) return;
  let sessions;
  try {
    sessions = await client.sessions();
  } catch {
    return; // signed out meanwhile (the logout event says why) or the server is away
  }
  const list = $('session-list');
  list.textContent = '';
  for (const s of sessions) {
    const li = document.createElement('li');
    li.dataset.id = s.id;
    const what = document.createElement('div');
    const device = document.createElement('span');
    device.className = 'device';
    device.textContent = deviceOf(s.user_agent);
    what.append(device);
    if (s.current) {
      const mark = document.createElement('span');
      mark.className = 'this';
      mark.textContent = 'this device';
      what.append(mark);
    }
    const detail = document.createElement('div');
    detail.className = 'muted';
    detail.textContent = [placeOf(s.address), `last used ${ago(s.last_used_at)}`, grantOf(s.grant), s.client_id]
      .filter(Boolean)
      .join(' · ');
    what.append(detail);
    const out = document.createElement('button');
    out.className = 'secondary';
    out.textContent = 'Sign out';
    out.setAttribute('aria-label', s.current ? 'Sign out this device' : `Sign out ${deviceOf(s.user_agent)}`);
    out.addEventListener('click', async () => {
      if (s.current) return client.logout();
      await client.endSession(s.id).catch(() => {});
      log(`Signed out ${deviceOf(s.user_agent)}: its tokens are refused from now on`, 'ok');
      await loadSessions();
    });
    li.append(what, out);
    list.append(li);
  }
  $('sign-out-others').disabled = sessions.length < 2;
}

function tick() {
  const s = client.session;
  if (!s) return;
  const left = Math.max(0, Math.round((s.expiresAt - Date.now()) / 1000));
  $('countdown').textContent = `${left} s`;
}
setInterval(tick, 250);

function startAuto() {
  clearInterval(autoTimer);
  if ($('auto').checked)
    autoTimer = setInterval(() => {
      if (!client.session) return;
      callMe()
        .then(loadSessions)
        .catch(() => {});
    }, 2000);
}

/** The session as the page keeps it across a reload (the tokens are DPoP-bound: useless without this browser's key). */
function keep(session) {
  sessionStorage.setItem(STORED, JSON.stringify({ session, who: $('who').textContent }));
}

client.on('refresh', ({ session, source }) => {
  renderSession(session);
  keep(session);
  if (source === 'restored')
    log(
      session.tokenType === 'DPoP'
        ? "Taken up after a reload: the stored tokens are DPoP-bound, and this browser's key (non-extractable, in IndexedDB) still proves them"
        : 'Taken up after a reload',
      'ok',
    );
  else if (source === 'refresh') log('Refreshed: new access and refresh token (the old refresh token is now consumed)', 'ok');
  else if (source === 'other-tab') log('Another tab signed in or refreshed; took its tokens', 'ok');
  show('session');
});

client.on('logout', ({ reason: given, description }) => {
  clearInterval(autoTimer);
  sessionStorage.removeItem(STORED);
  // After a detected replay the legitimate session's own refresh token is refused as revoked: same cause.
  const reason = given === 'revoked' && reuseDetected ? 'reused' : given;
  reuseDetected = false;
  const text =
    {
      reused:
        'Reuse detected: an already used refresh token was presented, so the server revoked the whole session (thief and owner both lose it).',
      revoked: 'The session was revoked.',
      expired: 'The session expired.',
      user: 'You signed out.',
    }[reason] ?? `The session ended (${description ?? reason}).`;
  log(text, reason === 'user' ? '' : 'bad');
  $('ended-reason').textContent = text;
  show('ended');
});

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('login-error').hidden = true;
  try {
    $('who').textContent = $('username').value;
    await client.login($('username').value, $('password').value);
    $('timeline').textContent = '';
    log('Signed in: a new token family started', 'ok');
    await callMe();
    await loadSessions();
    startAuto();
  } catch (err) {
    $('who').textContent = '';
    $('login-error').textContent = err.description ?? err.message;
    $('login-error').hidden = false;
  }
});

// The authorization code flow with PKCE: the server's login page asks for the password and sends
// the browser back here (the built-in client's registered redirect URI) with a code.
const REDIRECT_URI = `${location.origin}/`;
const PENDING = 'tessera-demo-authorization';

$('code-flow').addEventListener('click', async () => {
  $('login-error').hidden = true;
  try {
    const request = await client.authorize({ redirectUri: REDIRECT_URI });
    sessionStorage.setItem(PENDING, JSON.stringify(request));
    location.assign(request.url);
  } catch (err) {
    // Say why instead of doing nothing (the server's metadata unreachable, say).
    $('login-error').textContent = err.description ?? err.message;
    $('login-error').hidden = false;
  }
});

async function completeCodeFlow() {
  const callback = location.href;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null');
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, '', '/');
  if (!pending) return;
  try {
    await client.completeAuthorization(callback, pending);
    const me = await (await client.fetch('/me')).json();
    $('who').textContent = me.preferred_username ?? me.sub;
    keep(client.session);
    $('timeline').textContent = '';
    log('Signed in on the login page (authorization code + PKCE): a new token family started', 'ok');
    await callMe();
    startAuto();
  } catch (err) {
    $('login-error').textContent = err.description ?? err.message;
    $('login-error').hidden = false;
  }
}

const query = new URLSearchParams(location.search);
if (query.has('code') || query.has('error')) completeCodeFlow();
else restore();

/** After a reload: the kept session, proved by the same DPoP key; a refresh when its access token is due. */
async function restore() {
  const kept = JSON.parse(sessionStorage.getItem(STORED) ?? 'null');
  if (!kept?.session) return;
  $('who').textContent = kept.who ?? '';
  client.setSession(kept.session);
  show('session');
  await callMe();
  await loadSessions();
  startAuto();
}

$('call-me').addEventListener('click', () => callMe());
$('auto').addEventListener('change', startAuto);
$('refresh-now').addEventListener('click', () => client.refresh().catch(() => {}));
$('logout').addEventListener('click', () => client.logout());
$('again').addEventListener('click', () => show('signin'));
$('sign-out-others').addEventListener('click', async () => {
  await client.revokeOtherSessions().catch(() => {});
  log('Signed out of every other session', 'ok');
  await loadSessions();
});

/** Presents a consumed refresh token and logs the answer; true when the server detected reuse. */
async function presentConsumed(old, viaClient) {
  let status;
  let body;
  if (viaClient) {
    // A second client on this origin signs with the same key from IndexedDB (it cannot export it),
    // without telling the tabs (no channel, no lock): what a script injected into the page could do.
    const injected = createClient({ dpop: true, locks: null, channel: null });
    injected.setSession({ accessToken: '', refreshToken: old, expiresAt: 0, tokenType: 'DPoP' });
    try {
      await injected.refresh();
      status = 200;
      body = {};
    } catch (err) {
      status = err.status;
      body = { error: err.error, error_description: err.description };
    } finally {
      injected.close();
    }
  } else {
    const res = await fetch('/auth/refresh', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: old }),
    });
    status = res.status;
    body = await res.json().catch(() => ({}));
  }
  const reused = body.error === 'invalid_grant';
  log(`Server answered ${status} ${body.error ?? ''}: ${body.error_description ?? ''}`, reused ? 'bad' : 'ok');
  return reused;
}

$('replay').addEventListener('click', async () => {
  const old = usedRefreshTokens[usedRefreshTokens.length - 1];
  log('Replaying an already used refresh token, as an attacker who copied it would…');
  reuseDetected = await presentConsumed(old, false);
  if (!reuseDetected && dpop) {
    log("Refused: the token is DPoP-bound and the copy came without this browser's key. Nothing was consumed.", 'ok');
    log('Replaying it with a proof by the key, as a script injected into this page could (it can use the key, never export it)…');
    reuseDetected = await presentConsumed(old, true);
  }
  // The family is now revoked: the next refresh of the legitimate session fails too.
  if (reuseDetected) await client.refresh().catch(() => {});
});
