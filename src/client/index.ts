/**
 * `tessera-auth/client`: a dependency-free client (browser and Node) for a tessera
 * server that never logs its user out by accident.
 *
 * The failure it prevents: several tabs or parallel requests race one refresh,
 * one of them presents the already-rotated refresh token, reuse detection
 * (RFC 9700 §4.14.2) revokes the family, the user is logged out. So:
 *
 * - concurrent calls in one page share one refresh (single flight);
 * - across tabs only one tab refreshes (Web Locks where available, a
 *   BroadcastChannel election otherwise) and the others take its result;
 * - access tokens are refreshed shortly before they expire, and a 401
 *   `invalid_token` answer triggers one refresh and one retry, never a loop;
 * - a refresh answered `invalid_grant` (reused, revoked, expired) ends the
 *   session with one `logout` event, its reason taken from the body's
 *   machine-readable `reason`, never from the English description;
 * - a store outage (503) or any other server trouble never ends the session:
 *   the refresh fails, the session stays, the next call tries again.
 *
 * Tokens are kept in memory only. In cookie mode the refresh token lives in an
 * HttpOnly cookie that script never sees.
 *
 * @module
 */

/** The subset of `fetch` the client needs (injectable for tests and non-browser runtimes). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** Web Locks API subset (`navigator.locks`). */
export interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

/** BroadcastChannel subset. */
export interface ChannelLike {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  close(): void;
}

export interface ClientOptions {
  /** Server origin and prefix, e.g. `https://auth.example.com` (default: same origin, ''). */
  baseUrl?: string;
  fetch?: FetchLike;
  /** Refresh token in an HttpOnly cookie (server's browser mode). Default false. */
  cookieMode?: boolean;
  /**
   * Header sent with cookie-authenticated calls (double-submit CSRF protection).
   * Default in cookie mode: `X-CSRF-Token` with the value of the server's
   * `__Host-tessera_csrf` cookie (`tessera_csrf` with insecure cookies), read at
   * each call (it changes with each refresh).
   */
  csrfHeader?: { name: string; value: string | (() => string | undefined) };
  /** Refresh this many seconds before the access token expires. Default 30. */
  refreshAheadSeconds?: number;
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
  /** Web Locks (default `navigator.locks` when present). `null` disables. */
  locks?: LockManagerLike | null;
  /** Cross-tab channel factory (default `new BroadcastChannel(name)` when present). `null` disables. */
  channel?: ChannelLike | null;
  /** Name of the lock and channel; one per server. Default `tessera-auth`. */
  name?: string;
  paths?: { token?: string; refresh?: string; logout?: string; sessions?: string };
  /**
   * A public client registered on the server (`tessera client add ID`), sent as `client_id` with
   * the login and every refresh (RFC 6749 §3.2.1). Default none: the server's built-in client.
   */
  clientId?: string;
  /**
   * DPoP (RFC 9449): tokens bound to a key of this client, so a copied token is useless without
   * it. A non-extractable WebCrypto P-256 key (kept in IndexedDB in the browser, shared by the
   * tabs of the origin and surviving a reload; in memory where there is no IndexedDB) signs a
   * proof for the token endpoint, each refresh and each call of {@link TesseraClient.fetch},
   * which then sends `Authorization: DPoP`. A `use_dpop_nonce` answer is retried once with the
   * server's `DPoP-Nonce` (§8). `baseUrl` must be absolute where there is no `location`.
   * Default false.
   */
  dpop?: boolean;
}

export interface Session {
  accessToken: string;
  /** `undefined` in cookie mode. */
  refreshToken?: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  scope?: string;
  /** `DPoP` when the tokens are bound to this client's key (RFC 9449 §5); absent for Bearer tokens. */
  tokenType?: 'DPoP';
}

/**
 * One place the user is signed in, as `GET /auth/sessions` lists it (times RFC 3339; `address`
 * as the server keeps it, by default the network only). `current`: this client's own session.
 */
export interface SignedInSession {
  id: string;
  client_id: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
  user_agent: string;
  address: string;
  current: boolean;
  /** The `grant_type` that created it (`password`, `authorization_code`, ...); null when the server did not record one. */
  grant: string | null;
}

export type SessionSource = 'login' | 'refresh' | 'other-tab' | 'restored';

export type LogoutReason = 'reused' | 'revoked' | 'expired' | 'invalid_grant' | 'user';

export interface ClientEvents {
  /** A new session: signed in here (`login`), refreshed here (`refresh`), or taken from another tab. */
  refresh: { session: Session; source: SessionSource };
  /** The session ended; `reason` says why. Emitted once per session. */
  logout: { reason: LogoutReason; description?: string };
}

/** An error answer of the server (RFC 6749 §5.2 shape). */
export class AuthError extends Error {
  override readonly name = 'AuthError';
  readonly status: number;
  readonly error: string;
  readonly description: string | undefined;
  /**
   * The server's machine-readable `reason` (`reused`, `revoked`, `expired`,
   * `malformed`, ...) when it refused a token or a grant; absent otherwise,
   * and always absent on a 503.
   */
  readonly reason: string | undefined;
  constructor(status: number, error: string, description?: string, reason?: string) {
    super(description ? `${error}: ${description}` : error);
    this.status = status;
    this.error = error;
    this.description = description;
    this.reason = reason;
  }
}

interface TokenResponse {
  access_token: string;
  token_type?: string;
  refresh_token?: string;
  expires_in: number;
  scope?: string;
}

type Message =
  | { t: 'session'; session: Session | null; reason?: LogoutReason; from: string }
  | { t: 'claim'; id: string; at: number; from: string };

/** A cookie visible to script (`document.cookie`), when there is a document. */
function readCookie(name: string): string | undefined {
  const doc = (globalThis as { document?: { cookie?: string } }).document;
  const match = doc?.cookie?.match(new RegExp(`(?:^|; )${name}=([^;]*)`));
  return match ? decodeURIComponent(match[1] as string) : undefined;
}

const DEFAULT_PATHS = { token: '/auth/token', refresh: '/auth/refresh', logout: '/auth/logout', sessions: '/auth/sessions' };

/** The server's built-in public client (TESSERA_DEFAULT_CLIENT's default). */
const DEFAULT_CLIENT_ID = 'tessera';

/** `bytes` random bytes, base64url: within RFC 7636 §4.1's unreserved characters. */
function randomString(bytes: number): string {
  return base64url(globalThis.crypto.getRandomValues(new Uint8Array(bytes)));
}

function base64url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier))). */
async function s256(verifier: string): Promise<string> {
  return base64url(new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
}

/** The logout reason of a refused refresh, from the server's `reason` (never from its English description). */
function logoutReasonOf(reason: string | undefined): LogoutReason {
  return reason === 'reused' || reason === 'revoked' || reason === 'expired' ? reason : 'invalid_grant';
}

/**
 * Whether a failed refresh means the session is over: the server refused the
 * refresh token itself (RFC 6749 §5.2 `invalid_grant`). A 5xx (a store outage
 * is a 503 with `Retry-After`), a 429 or a CSRF refusal says nothing about the
 * token: the session is kept and a later call tries again.
 */
function endsSession(err: AuthError): boolean {
  return err.status < 500 && (err.error === 'invalid_grant' || err.status === 401);
}

/** The JSON of `v`, base64url: a part of a compact JWS (RFC 7515 §7.1). */
function b64json(v: unknown): string {
  return base64url(new TextEncoder().encode(JSON.stringify(v)));
}

/** The IndexedDB subset that keeps the DPoP key pair (CryptoKey objects are stored as they are, never exported). */
interface IdbLike {
  open(
    name: string,
    version?: number,
  ): {
    result: unknown;
    onupgradeneeded: (() => void) | null;
    onsuccess: (() => void) | null;
    onerror: (() => void) | null;
  };
}
interface IdbDatabase {
  createObjectStore(name: string): unknown;
  transaction(
    store: string,
    mode: 'readonly' | 'readwrite',
  ): {
    objectStore(name: string): {
      get(key: string): { result: unknown; onsuccess: (() => void) | null; onerror: (() => void) | null };
      put(value: unknown, key: string): unknown;
    };
    oncomplete: (() => void) | null;
    onerror: (() => void) | null;
  };
}

function idbRequest<T>(req: { result: unknown; onsuccess: (() => void) | null; onerror: (() => void) | null }): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result as T);
    req.onerror = () => reject(new Error('IndexedDB request failed'));
  });
}

/** Whether an answer asks for the server's DPoP nonce (RFC 9449 §8: 400 at the token endpoint, 401 at a resource). */
async function wantsNonce(res: Response): Promise<boolean> {
  if (res.status === 401) return /error="?use_dpop_nonce/i.test(res.headers.get('www-authenticate') ?? '');
  if (res.status !== 400) return false;
  try {
    return ((await res.clone().json()) as { error?: unknown }).error === 'use_dpop_nonce';
  } catch {
    return false;
  }
}

/** Reads `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3). */
function isInvalidTokenChallenge(res: Response): boolean {
  return res.status === 401 && /error="?invalid_token/i.test(res.headers.get('www-authenticate') ?? '');
}

/** A started authorization (RFC 6749 §4.1.1): where to send the browser, and what to keep until it comes back. */
export interface AuthorizationRequest {
  /** The authorization endpoint URL with the request (PKCE S256, state). */
  url: string;
  /** Keep these (e.g. in `sessionStorage`) for {@link TesseraClient.completeAuthorization}. */
  state: string;
  codeVerifier: string;
  redirectUri: string;
}

export interface AuthorizeOptions {
  /** A redirect URI registered for the client (`tessera client add ID --redirect-uri URI`). */
  redirectUri: string;
  scope?: string;
  /** OIDC Core §3.1.2.1: `none` (no page: an error if not signed in), `login` (ask for the password again), `consent`. */
  prompt?: 'none' | 'login' | 'consent';
}

export interface TesseraClient {
  /**
   * Starts the authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636): a fresh verifier,
   * its S256 challenge and a state. Send the browser to `url`; keep the rest until it returns.
   */
  authorize(options: AuthorizeOptions): Promise<AuthorizationRequest>;
  /**
   * Completes it on the redirect URI: checks `state` and `iss` (RFC 9207), throws the
   * authorization error if there is one, and exchanges the code with the verifier.
   */
  completeAuthorization(
    callbackUrl: string,
    request: Pick<AuthorizationRequest, 'state' | 'codeVerifier' | 'redirectUri'>,
  ): Promise<Session>;
  /** Password grant (RFC 6749 §4.3), for first-party clients where the server enables it. */
  login(username: string, password: string): Promise<Session>;
  /** `fetch` with the Bearer token attached, refreshing ahead of expiry and once on 401. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Refreshes now (single flight: concurrent callers share one request). */
  refresh(): Promise<Session>;
  /** Ends the family on the server and locally. */
  logout(): Promise<void>;
  /** Where the user is signed in (`GET /auth/sessions`), most recently used first. Rejects with AuthError. */
  sessions(): Promise<SignedInSession[]>;
  /**
   * Signs one session out (`DELETE /auth/sessions/{id}`): its tokens are refused everywhere within
   * a second. Ending this client's own session signs it out here too. Rejects with AuthError (404: not the user's).
   */
  endSession(id: string): Promise<void>;
  /** Signs out every other session of the user (`POST /auth/sessions/revoke-others`); this one stays. */
  revokeOtherSessions(): Promise<void>;
  /** The current session, if any. */
  readonly session: Session | null;
  /** Adopts a session obtained elsewhere (e.g. restored on page load). */
  setSession(session: Session | null): void;
  on<K extends keyof ClientEvents>(type: K, listener: (event: ClientEvents[K]) => void): () => void;
  close(): void;
}

export function createClient(options: ClientOptions = {}): TesseraClient {
  const baseUrl = (options.baseUrl ?? '').replace(/\/$/, '');
  const doFetch: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const clock = options.clock ?? Date.now;
  const aheadMs = (options.refreshAheadSeconds ?? 30) * 1000;
  const paths = { ...DEFAULT_PATHS, ...options.paths };
  const name = options.name ?? 'tessera-auth';
  const cookieMode = options.cookieMode ?? false;
  const tabId = Math.random().toString(36).slice(2) + clock().toString(36);
  const g = globalThis as unknown as {
    navigator?: { locks?: LockManagerLike };
    BroadcastChannel?: new (name: string) => ChannelLike;
  };
  const locks = options.locks === undefined ? (g.navigator?.locks ?? null) : options.locks;
  const channel = options.channel === undefined ? (g.BroadcastChannel ? new g.BroadcastChannel(name) : null) : options.channel;

  let session: Session | null = null;
  /** Bumped on every session change: lets a waiting tab see that another one refreshed meanwhile. */
  let generation = 0;
  let inflight: Promise<Session> | null = null;
  let loggedOut = false;
  const listeners: { [K in keyof ClientEvents]: Set<(e: ClientEvents[K]) => void> } = {
    refresh: new Set(),
    logout: new Set(),
  };
  const emit = <K extends keyof ClientEvents>(type: K, event: ClientEvents[K]) => {
    for (const l of listeners[type]) l(event);
  };
  /** Other tabs' claims to refresh, for the election without Web Locks. */
  const claims = new Map<string, number>();
  const waiters = new Set<() => void>();

  function adopt(next: Session | null, source: SessionSource, reason?: LogoutReason, description?: string) {
    session = next;
    generation++;
    for (const w of waiters) w();
    waiters.clear();
    if (next) {
      loggedOut = false;
      emit('refresh', { session: next, source });
    } else if (!loggedOut) {
      loggedOut = true;
      emit('logout', { reason: reason ?? 'user', ...(description ? { description } : {}) });
    }
  }

  channel?.addEventListener('message', (event) => {
    const msg = event.data as Message;
    if (!msg || typeof msg !== 'object' || msg.from === tabId) return;
    if (msg.t === 'session') adopt(msg.session, 'other-tab', msg.reason);
    else if (msg.t === 'claim') claims.set(msg.id, msg.at);
  });

  function broadcast(msg: Message) {
    channel?.postMessage(msg);
  }

  function toSession(body: TokenResponse, previous: Session | null): Session {
    return {
      accessToken: body.access_token,
      ...(cookieMode ? {} : { refreshToken: body.refresh_token ?? previous?.refreshToken }),
      expiresAt: clock() + body.expires_in * 1000,
      ...(body.scope !== undefined ? { scope: body.scope } : {}),
      // RFC 9449 §5: the token type is case-insensitive.
      ...(typeof body.token_type === 'string' && body.token_type.toLowerCase() === 'dpop' ? { tokenType: 'DPoP' as const } : {}),
    };
  }

  // DPoP (RFC 9449): one key pair per origin, made non-extractable; the last nonce the server gave.
  const dpop = options.dpop === true;
  let keyPair: Promise<{ pair: CryptoKeyPair; jwk: { kty: string; crv: string; x: string; y: string } }> | undefined;
  let dpopNonce: string | undefined;

  async function storedKeyPair(): Promise<CryptoKeyPair> {
    const subtle = globalThis.crypto.subtle;
    const create = () =>
      subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']) as Promise<CryptoKeyPair>;
    const idb = (globalThis as { indexedDB?: IdbLike }).indexedDB;
    if (!idb) return create();
    const run = async (): Promise<CryptoKeyPair> => {
      const open = idb.open(`${name}-dpop`, 1);
      open.onupgradeneeded = () => (open.result as IdbDatabase).createObjectStore('keys');
      const db = await idbRequest<IdbDatabase>(open);
      const found = await idbRequest<CryptoKeyPair | undefined>(
        db.transaction('keys', 'readonly').objectStore('keys').get('pair'),
      );
      if (found?.privateKey && found.publicKey) return found;
      const pair = await create();
      const tx = db.transaction('keys', 'readwrite');
      tx.objectStore('keys').put(pair, 'pair');
      await new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(new Error('IndexedDB write failed'));
      });
      return pair;
    };
    // One tab makes the key; the others read it (the same key for every tab of the origin).
    return locks ? locks.request(`${name}:dpop-key`, run) : run();
  }

  function dpopKey() {
    keyPair ??= storedKeyPair().then(async (pair) => {
      const j = (await globalThis.crypto.subtle.exportKey('jwk', pair.publicKey)) as { x: string; y: string };
      return { pair, jwk: { kty: 'EC', crv: 'P-256', x: j.x, y: j.y } };
    });
    return keyPair;
  }

  /** RFC 7638: the key's SHA-256 thumbprint (the required members in lexicographic order), for `dpop_jkt`. */
  async function dpopThumbprint(): Promise<string> {
    const { jwk } = await dpopKey();
    return s256(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }));
  }

  /** RFC 9449 §4.2: a proof for one request (`htu` without query and fragment), `ath` with an access token. */
  async function proofFor(method: string, url: string, accessToken?: string): Promise<string> {
    const { pair, jwk } = await dpopKey();
    const base = (globalThis as { location?: { href?: string } }).location?.href;
    const u = base === undefined ? new URL(url) : new URL(url, base);
    const claims: Record<string, unknown> = {
      jti: randomString(16),
      htm: method,
      htu: `${u.origin}${u.pathname}`,
      iat: Math.floor(clock() / 1000),
    };
    if (accessToken !== undefined) claims.ath = await s256(accessToken);
    if (dpopNonce !== undefined) claims.nonce = dpopNonce;
    const input = `${b64json({ typ: 'dpop+jwt', alg: 'ES256', jwk })}.${b64json(claims)}`;
    const sig = await globalThis.crypto.subtle.sign(
      { name: 'ECDSA', hash: 'SHA-256' },
      pair.privateKey,
      new TextEncoder().encode(input),
    );
    return `${input}.${base64url(new Uint8Array(sig))}`;
  }

  /** A request with a DPoP proof; once more with the server's nonce when it asks for one (§8). */
  async function dpopFetch(url: string, init: RequestInit, accessToken?: string, retried = false): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('dpop', await proofFor(init.method ?? 'GET', url, accessToken));
    const res = await doFetch(url, { ...init, headers });
    const nonce = res.headers.get('dpop-nonce');
    if (nonce) dpopNonce = nonce;
    if (!retried && nonce && (await wantsNonce(res))) return dpopFetch(url, init, accessToken, true);
    return res;
  }

  /** A request to the token or refresh endpoint: with a proof when DPoP is on. */
  function tokenFetch(url: string, init: RequestInit): Promise<Response> {
    return dpop ? dpopFetch(url, init) : doFetch(url, init);
  }

  const csrf = options.csrfHeader ?? {
    name: 'x-csrf-token',
    value: () => readCookie('__Host-tessera_csrf') ?? readCookie('tessera_csrf'),
  };
  function jsonHeaders(): Record<string, string> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (cookieMode) {
      const value = typeof csrf.value === 'function' ? csrf.value() : csrf.value;
      if (value) headers[csrf.name] = value;
    }
    return headers;
  }

  /** RFC 6749 §3.2.1: a public client names itself; its tokens are bound to it (§6). */
  const clientParams: Record<string, string> = options.clientId ? { client_id: options.clientId } : {};

  /** RFC 8414 metadata, asked once: the authorization endpoint and the issuer that `iss` must name. */
  let metadata: Promise<{ authorizationEndpoint: string; issuer: string | undefined }> | undefined;
  function discover(): Promise<{ authorizationEndpoint: string; issuer: string | undefined }> {
    metadata ??= doFetch(`${baseUrl}/.well-known/oauth-authorization-server`)
      .then(async (res) => {
        const m = res.ok ? ((await res.json()) as { authorization_endpoint?: unknown; issuer?: unknown }) : {};
        return {
          authorizationEndpoint: typeof m.authorization_endpoint === 'string' ? m.authorization_endpoint : `${baseUrl}/authorize`,
          issuer: typeof m.issuer === 'string' ? m.issuer : undefined,
        };
      })
      .catch(() => ({ authorizationEndpoint: `${baseUrl}/authorize`, issuer: undefined }));
    return metadata;
  }

  /** A session from a successful token response: adopted here and told to the other tabs. */
  async function signedIn(res: Response): Promise<Session> {
    if (!res.ok) throw await errorOf(res);
    const next = toSession((await res.json()) as TokenResponse, null);
    adopt(next, 'login');
    broadcast({ t: 'session', session: next, from: tabId });
    return next;
  }

  async function post(path: string, body: Record<string, string>): Promise<Response> {
    const headers = jsonHeaders();
    return (path === paths.refresh ? tokenFetch : doFetch)(baseUrl + path, {
      method: 'POST',
      headers,
      body: JSON.stringify({ ...clientParams, ...body }),
      ...(cookieMode ? { credentials: 'include' as RequestCredentials } : {}),
    });
  }

  async function errorOf(res: Response): Promise<AuthError> {
    let body: { error?: string; error_description?: string; reason?: unknown } = {};
    try {
      body = ((await res.json()) ?? {}) as typeof body;
    } catch {
      // not JSON: keep the status
    }
    const reason = typeof body.reason === 'string' ? body.reason : undefined;
    return new AuthError(res.status, body.error ?? `http_${res.status}`, body.error_description, reason);
  }

  /** One refresh request; the caller holds the cross-tab lock (or won the election). */
  async function refreshNow(startGeneration: number): Promise<Session> {
    // Another tab refreshed while we waited for the lock: take its result.
    if (generation !== startGeneration && session && session.expiresAt - clock() > aheadMs) return session;
    if (!session && !cookieMode) throw new AuthError(401, 'invalid_grant', 'not logged in');
    const res = await post(paths.refresh, cookieMode ? {} : { refresh_token: session?.refreshToken ?? '' });
    if (!res.ok) {
      const err = await errorOf(res);
      if (endsSession(err)) {
        const reason = logoutReasonOf(err.reason);
        adopt(null, 'refresh', reason, err.description);
        broadcast({ t: 'session', session: null, reason, from: tabId });
      }
      throw err;
    }
    const next = toSession((await res.json()) as TokenResponse, session);
    adopt(next, 'refresh');
    broadcast({ t: 'session', session: next, from: tabId });
    return next;
  }

  /** Election without Web Locks: claim, wait a moment, the earliest claim refreshes. */
  async function electAndRefresh(startGeneration: number): Promise<Session> {
    const myClaim = { id: tabId, at: clock() };
    claims.set(myClaim.id, myClaim.at);
    broadcast({ t: 'claim', id: myClaim.id, at: myClaim.at, from: tabId });
    await new Promise((r) => setTimeout(r, 30));
    const winner = [...claims.entries()]
      .filter(([, at]) => myClaim.at - at < 5000)
      .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))[0];
    claims.clear();
    if (winner && winner[0] !== tabId && generation === startGeneration) {
      // Another tab refreshes: wait for its session message (or time out and do it ourselves).
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 5000);
        waiters.add(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return refreshNow(startGeneration);
  }

  function refresh(): Promise<Session> {
    if (inflight) return inflight;
    const startGeneration = generation;
    const run = locks
      ? locks.request(`${name}:refresh`, () => refreshNow(startGeneration))
      : channel
        ? electAndRefresh(startGeneration)
        : refreshNow(startGeneration);
    inflight = run.finally(() => {
      inflight = null;
    });
    return inflight;
  }

  async function authorizedFetch(path: string, init: RequestInit = {}, retried = false): Promise<Response> {
    if (session && session.expiresAt - clock() <= aheadMs) {
      try {
        await refresh();
      } catch (e) {
        if (!session) throw e;
      }
    }
    const headers = new Headers(init.headers);
    let res: Response;
    if (dpop && session?.tokenType === 'DPoP') {
      // RFC 9449 §7.1: the DPoP scheme, and a proof bound to the token (`ath`).
      headers.set('authorization', `DPoP ${session.accessToken}`);
      res = await dpopFetch(baseUrl + path, { ...init, headers }, session.accessToken);
    } else {
      if (session) headers.set('authorization', `Bearer ${session.accessToken}`);
      res = await doFetch(baseUrl + path, { ...init, headers });
    }
    if (!retried && isInvalidTokenChallenge(res) && (session || cookieMode)) {
      await refresh();
      return authorizedFetch(path, init, true);
    }
    return res;
  }

  async function listSessions(): Promise<SignedInSession[]> {
    const res = await authorizedFetch(paths.sessions, { method: 'GET' });
    if (!res.ok) throw await errorOf(res);
    return ((await res.json()) as { sessions: SignedInSession[] }).sessions;
  }

  return {
    async authorize(o) {
      const { authorizationEndpoint } = await discover();
      const codeVerifier = randomString(32);
      const state = randomString(16);
      const url = new URL(authorizationEndpoint);
      const params: Record<string, string> = {
        response_type: 'code',
        client_id: options.clientId ?? DEFAULT_CLIENT_ID,
        redirect_uri: o.redirectUri,
        code_challenge: await s256(codeVerifier),
        code_challenge_method: 'S256',
        state,
      };
      if (o.scope) params.scope = o.scope;
      if (o.prompt) params.prompt = o.prompt;
      // RFC 9449 §10: the code is bound to this client's key; only a proof by it redeems the code.
      if (dpop) params.dpop_jkt = await dpopThumbprint();
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
      return { url: url.href, state, codeVerifier, redirectUri: o.redirectUri };
    },

    async completeAuthorization(callbackUrl, request) {
      const q = new URL(callbackUrl).searchParams;
      // RFC 6749 §10.12: a response that does not carry our state was not started here.
      if (q.get('state') !== request.state) throw new AuthError(400, 'invalid_request', 'state does not match');
      // RFC 9207 §2.4: a response from another issuer (a mix-up attack) is refused.
      const { issuer } = await discover();
      const iss = q.get('iss');
      if (issuer !== undefined && iss !== null && iss !== issuer)
        throw new AuthError(400, 'invalid_request', 'iss names another issuer');
      const error = q.get('error');
      if (error !== null) throw new AuthError(400, error, q.get('error_description') ?? undefined);
      const code = q.get('code');
      if (!code) throw new AuthError(400, 'invalid_request', 'the response has no code');
      const res = await tokenFetch(baseUrl + paths.token, {
        method: 'POST',
        headers: jsonHeaders(),
        body: JSON.stringify({
          grant_type: 'authorization_code',
          code,
          redirect_uri: request.redirectUri,
          code_verifier: request.codeVerifier,
          client_id: options.clientId ?? DEFAULT_CLIENT_ID,
        }),
        ...(cookieMode ? { credentials: 'include' as RequestCredentials } : {}),
      });
      return signedIn(res);
    },

    async login(username, password) {
      const res = await tokenFetch(baseUrl + paths.token, {
        method: 'POST',
        headers: jsonHeaders(),
        body: JSON.stringify({ grant_type: 'password', username, password, ...clientParams }),
        ...(cookieMode ? { credentials: 'include' as RequestCredentials } : {}),
      });
      return signedIn(res);
    },
    fetch: (path, init) => authorizedFetch(path, init),
    refresh,
    async logout() {
      const current = session;
      try {
        if (current?.refreshToken || cookieMode) {
          await post(paths.logout, cookieMode ? {} : { refresh_token: current?.refreshToken ?? '' });
        }
      } finally {
        adopt(null, 'refresh', 'user');
        broadcast({ t: 'session', session: null, reason: 'user', from: tabId });
      }
    },
    sessions: listSessions,
    async endSession(id) {
      const own = (await listSessions()).find((x) => x.current)?.id === id;
      const res = await authorizedFetch(`${paths.sessions}/${encodeURIComponent(id)}`, { method: 'DELETE' });
      if (!res.ok) throw await errorOf(res);
      if (own) {
        adopt(null, 'refresh', 'user');
        broadcast({ t: 'session', session: null, reason: 'user', from: tabId });
      }
    },
    async revokeOtherSessions() {
      const res = await authorizedFetch(`${paths.sessions}/revoke-others`, { method: 'POST' });
      if (!res.ok) throw await errorOf(res);
    },
    get session() {
      return session;
    },
    setSession(next) {
      adopt(next, 'restored');
    },
    on(type, listener) {
      listeners[type].add(listener);
      return () => listeners[type].delete(listener);
    },
    close() {
      channel?.close();
    },
  };
}
