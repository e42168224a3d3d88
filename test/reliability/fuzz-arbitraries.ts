/**
 * fast-check generators of hostile HTTP requests for the HTTP fuzz suites, and
 * the oracle that judges every response. The same generators drive `app.inject()`
 * (fuzz-http.test.ts) and a real server (fuzz-http-server.test.ts).
 *
 * A case is a method, a path, headers, a content type and a body, each drawn
 * from values real clients send, values attackers send and plain noise. Token
 * fields are filled from a pool of tokens the service really issued, mutations
 * of them, tokens of another deployment (another secret) and random strings, so
 * the fuzzer reaches the code behind the parsers, not only the parsers.
 */
import fc from 'fast-check';

/** Marks passwords: no response body may ever contain it. */
export const PW_MARK = 'Pw-Mark-7f3a';

export interface TokenPool {
  access: string[];
  refresh: string[];
  /** Tokens of another deployment (another secret or store): never to be accepted here. */
  foreign: string[];
}

export interface FuzzCase {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** The token candidates this case carries (bearer, body fields, cookie). */
  bearer?: string;
  refreshToken?: string;
  /** Fuzz-http: the store is down while this case runs. */
  storeDown: boolean;
}

const TOKEN_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/~';
const tokenChar = fc.constantFrom(...`${TOKEN_CHARS} \t%?#&;,"'\\é\u0000\u00ff`);
/** Characters Node and light-my-request accept in a header value. */
const headerChar = fc.constantFrom(...`${TOKEN_CHARS} \t!#$%&'*^|"(),:;<>?@[]{}\\`);
const headerNameChar = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-!#$%&'*+.^_`|~");

/** Every route with its method. */
const ROUTES: [string, string][] = [
  ['/auth/token', 'POST'],
  ['/auth/token', 'POST'],
  ['/auth/refresh', 'POST'],
  ['/auth/refresh', 'POST'],
  ['/auth/revoke', 'POST'],
  ['/auth/introspect', 'POST'],
  ['/auth/logout', 'POST'],
  ['/auth/logout-all', 'POST'],
  ['/auth/register', 'POST'],
  ['/me', 'GET'],
  ['/me', 'GET'],
  ['/health', 'GET'],
  ['/ready', 'GET'],
  ['/openapi.json', 'GET'],
  ['/docs', 'GET'],
  ['/docs/json', 'GET'],
  ['/docs/static/index.html', 'GET'],
];

/** Placeholders replaced, when the case runs, by the newest refresh/access token (see {@link materialize}). */
export const LIVE_REFRESH = 'LIVEREFRESHTOKENSENTINEL';
export const LIVE_ACCESS = 'LIVEACCESSTOKENSENTINEL';

export const STATEFUL_POSTS = new Set(['/auth/token', '/auth/refresh', '/auth/register', '/auth/logout-all']);

/** One character replaced, inserted, deleted; a truncation; a segment swap; a prefix change. */
function mutate(t: string, edits: { kind: number; at: number; ch: string }[]): string {
  for (const e of edits) {
    const i = t.length === 0 ? 0 : e.at % t.length;
    switch (e.kind % 7) {
      case 0:
        t = t.slice(0, i) + e.ch + t.slice(i + 1);
        break;
      case 1:
        t = t.slice(0, i) + e.ch + t.slice(i);
        break;
      case 2:
        t = t.slice(0, i) + t.slice(i + 1);
        break;
      case 3:
        t = t.slice(0, i);
        break;
      case 4:
        t = t.split('.').reverse().join('.');
        break;
      case 5:
        t = t.startsWith('tsa_') ? `tsr_${t.slice(4)}` : t.startsWith('tsr_') ? `tsa_${t.slice(4)}` : `${t}=`;
        break;
      default:
        t = t.toUpperCase() === t ? t.toLowerCase() : t.slice(0, i) + t.slice(i).toUpperCase();
    }
  }
  return t;
}

export function tokenArb(pool: TokenPool): fc.Arbitrary<string> {
  const pick = (xs: string[]) => (xs.length ? fc.constantFrom(...xs) : fc.constant('x'));
  const edits = fc.array(fc.record({ kind: fc.nat(), at: fc.nat(), ch: tokenChar }), { minLength: 1, maxLength: 3 });
  const mutated = fc.tuple(fc.oneof(pick(pool.access), pick(pool.refresh)), edits).map(([t, e]) => mutate(t, e));
  // Two halves of two real tokens glued together (a MAC of one, a payload of another).
  const spliced = fc
    .tuple(pick(pool.access), pick(pool.refresh), fc.nat())
    .map(([a, r, n]) => a.slice(0, n % a.length) + r.slice(n % r.length));
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(LIVE_REFRESH) },
    { weight: 3, arbitrary: fc.constant(LIVE_ACCESS) },
    { weight: 3, arbitrary: pick(pool.access) },
    { weight: 3, arbitrary: pick(pool.refresh) },
    { weight: 5, arbitrary: mutated },
    { weight: 1, arbitrary: spliced },
    { weight: 2, arbitrary: pick(pool.foreign) },
    { weight: 2, arbitrary: fc.string({ unit: tokenChar, maxLength: 120 }) },
    { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', 'null', 'undefined', '[object Object]', 'a'.repeat(9000)) },
  );
}

/** A JSON value of the wrong shape, for any field. */
const junkValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 }),
  fc.constant({ $ne: 1 }),
);

function fieldsArb(token: fc.Arbitrary<string>) {
  const str = (a: fc.Arbitrary<string>) => fc.oneof({ weight: 6, arbitrary: a }, { weight: 1, arbitrary: junkValue });
  return fc.record(
    {
      grant_type: str(fc.constantFrom('password', 'refresh_token', 'client_credentials', 'PASSWORD', '', 'x'.repeat(80))),
      username: str(fc.constantFrom('alice', 'bob', 'nobody', 'ALICE', ' alice ', '', 'a'.repeat(300), '../../etc/passwd')),
      password: str(
        fc.oneof(
          fc.constant(PW_MARK), // placeholder: replaced by the real password when `realPassword` is drawn
          fc.string({ maxLength: 30 }).map((s) => `${PW_MARK}${s}`),
          fc.constant(`${PW_MARK}${'p'.repeat(1100)}`),
        ),
      ),
      refresh_token: str(token),
      token: str(token),
      token_type_hint: str(fc.constantFrom('access_token', 'refresh_token', 'id_token', '')),
      scope: str(fc.constantFrom('api', 'admin', '')),
    },
    { requiredKeys: [] },
  );
}

export interface CaseOptions {
  pool: TokenPool;
  /** The real password of alice and bob. */
  password: string;
  /** Draw `storeDown` (only where the test can take the store down). */
  outages: boolean;
  /** Methods the transport can send (fetch forbids some; node:http and inject take all). */
  methods?: string[];
  /** Name of the refresh cookie, when the app runs in cookie mode. */
  cookieName?: string;
}

export function caseArb(o: CaseOptions): fc.Arbitrary<FuzzCase> {
  const token = tokenArb(o.pool);
  const methods = o.methods ?? ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND', 'SEARCH'];
  const anyMethod = fc.constantFrom(...methods);
  const pathSuffix = fc.oneof(
    { weight: 20, arbitrary: fc.constant('') },
    fc.constantFrom('/', '?', '//', '/..', '/%2e%2e/package.json', '?access_token=abc', '#frag', '%00', '/%E0%A4%A'),
    fc.string({ unit: tokenChar, maxLength: 12 }).map((s) => `?${encodeURIComponent(s)}=${encodeURIComponent(s)}`),
  );
  const target = fc.oneof(
    {
      weight: 20,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...ROUTES),
          pathSuffix,
          fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: anyMethod }),
        )
        .map(([[r, m], s, other]) => ({ path: r + s, method: other ?? m })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom('/AUTH/TOKEN', '/auth//token', '/auth/token/..', '/', '/favicon.ico', '/.env'), anyMethod)
        .map(([path, method]) => ({ path, method })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.string({ unit: fc.constantFrom(...'abcxyz/._-%'), maxLength: 24 }), anyMethod)
        .map(([s, method]) => ({ path: `/${encodeURI(s)}`, method })),
    },
  );
  const contentType = fc.oneof(
    { weight: 5, arbitrary: fc.constant('application/json') },
    { weight: 5, arbitrary: fc.constant('application/x-www-form-urlencoded') },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        'application/json; charset=utf-8',
        'application/json; charset=latin1',
        'APPLICATION/JSON',
        'application/x-www-form-urlencoded; charset=utf-16',
        'text/plain',
        'text/html',
        'multipart/form-data; boundary=xyz',
        'application/xml',
        'application/jsonx',
        'application/vnd.api+json',
        '*/*',
        ';',
        'garbage',
      ),
    },
    { weight: 1, arbitrary: fc.string({ unit: headerChar, maxLength: 40 }) },
  );
  const bodyArb = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(fc.constant('json' as const), fieldsArb(token)) },
    { weight: 6, arbitrary: fc.tuple(fc.constant('form' as const), fieldsArb(token)) },
    {
      weight: 2,
      arbitrary: fc.tuple(
        fc.constant('raw' as const),
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.string({ unit: 'binary', maxLength: 100 }),
          fc.constantFrom(
            '{',
            '{"grant_type":',
            '[]',
            '"x"',
            'null',
            '0',
            '{"__proto__":{"polluted":1},"grant_type":"password"}',
            '{"constructor":{"prototype":{"polluted":1}}}',
            'grant_type=password&grant_type=refresh_token',
            'grant_type=%ZZ&refresh_token=%E0%A4%A',
            '--xyz\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\npassword\r\n--xyz--',
            `{"grant_type":"password","password":"${PW_MARK}`,
            `${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}`,
            JSON.stringify({ refresh_token: 'x'.repeat(70_000) }),
          ),
        ),
      ),
    },
    { weight: 2, arbitrary: fc.constant(['none' as const, undefined] as const) },
  );
  const authorization = fc.oneof(
    { weight: 3, arbitrary: fc.constant(undefined) },
    {
      weight: 6,
      arbitrary: fc
        .tuple(
          fc.constantFrom('Bearer ', 'bearer ', 'BEARER  ', 'Bearer\t', 'Basic ', 'Token ', ''),
          token,
          fc.constantFrom('', ' ', ', x'),
        )
        .map(([s, t, tail]) => ({ header: `${s}${t}${tail}`, token: t })),
    },
    { weight: 1, arbitrary: fc.string({ unit: headerChar, maxLength: 60 }).map((h) => ({ header: h, token: undefined })) },
  );
  const extraHeaders = fc.dictionary(
    fc.oneof(
      fc.constantFrom(
        'x-forwarded-for',
        'x-csrf-token',
        'origin',
        'accept',
        'accept-encoding',
        'content-encoding',
        'x-http-method-override',
        'cookie',
        'range',
        'if-none-match',
        'expect',
      ),
      fc.string({ unit: headerNameChar, minLength: 1, maxLength: 16 }).map((s) => `x-${s}`),
    ),
    fc.oneof(
      fc.string({ unit: headerChar, maxLength: 40 }),
      fc.constantFrom('gzip', 'br', 'deflate', 'identity', '1.2.3.4, 5.6.7.8', 'bytes=0-10', 'null', '*'),
    ),
    { maxKeys: 3 },
  );
  const cookie = o.cookieName
    ? fc.option(
        fc.tuple(token, fc.string({ unit: headerChar, maxLength: 20 })).map(([t, csrf]) => ({
          cookie: `${o.cookieName}=${encodeURIComponent(t)}; __Host-tessera_csrf=${encodeURIComponent(csrf)}`,
          csrf,
        })),
      )
    : fc.constant(null);

  return fc
    .record({
      target,
      contentType: fc.option(contentType, { freq: 6 }),
      body: bodyArb,
      authorization,
      extraHeaders,
      cookie,
      realPassword: fc.boolean(),
      storeDown: o.outages ? fc.nat({ max: 9 }).map((n) => n === 0) : fc.constant(false),
    })
    .map((r) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(r.extraHeaders)) headers[k.toLowerCase()] = v;
      if (r.cookie) {
        headers.cookie = r.cookie.cookie;
        if (r.cookie.csrf !== '') headers['x-csrf-token'] = r.cookie.csrf;
      }
      if (r.contentType !== null) headers['content-type'] = r.contentType;
      let bearer: string | undefined;
      if (r.authorization) {
        headers.authorization = r.authorization.header;
        bearer = r.authorization.token;
      }
      let body: string | undefined;
      let refreshToken: string | undefined;
      const [kind, payload] = r.body as readonly [string, unknown];
      if (kind === 'json' || kind === 'form') {
        const fields = { ...(payload as Record<string, unknown>) };
        if (r.realPassword && fields.password === PW_MARK) fields.password = o.password;
        if (typeof fields.refresh_token === 'string') refreshToken = fields.refresh_token;
        if (kind === 'json') {
          body = JSON.stringify(fields);
          headers['content-type'] ??= 'application/json';
        } else {
          const sp = new URLSearchParams();
          for (const [k, v] of Object.entries(fields)) {
            // Arrays become repeated parameters (RFC 6749 §3.1 forbids them: must be refused).
            for (const x of Array.isArray(v) ? v : [v]) sp.append(k, typeof x === 'string' ? x : JSON.stringify(x));
          }
          body = sp.toString();
          headers['content-type'] ??= 'application/x-www-form-urlencoded';
        }
      } else if (kind === 'raw') {
        body = payload as string;
      }
      // A body on GET/HEAD is legal but unusual; keep it so parsers see it.
      return { method: r.target.method, path: r.target.path, headers, body, bearer, refreshToken, storeDown: r.storeDown };
    });
}

/**
 * Replaces the live-token placeholders with the newest tokens the service
 * issued, so that refreshes keep succeeding throughout the run (a static pool
 * would be used up after its first few rotations).
 */
export function materialize(c: FuzzCase, ledger: Ledger): FuzzCase {
  const sub = (s: string | undefined) =>
    s === undefined ? s : s.replaceAll(LIVE_REFRESH, ledger.liveRefresh).replaceAll(LIVE_ACCESS, ledger.liveAccess);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.headers)) headers[k] = sub(v) as string;
  return { ...c, headers, body: sub(c.body), bearer: sub(c.bearer), refreshToken: sub(c.refreshToken) };
}

/** What the oracle knows: every token the service issued, and the refresh tokens already consumed. */
export interface Ledger {
  issuedAccess: Set<string>;
  issuedRefresh: Set<string>;
  consumed: Set<string>;
  /** The real password (a 200 password grant must have carried it). */
  password: string;
  counts: Map<string, number>;
  /** Users the fuzzer registered (cookie/registration configuration): name -> password. */
  registered: Map<string, string>;
  /** The newest tokens (what the placeholders stand for). */
  liveAccess: string;
  liveRefresh: string;
}

export function newLedger(pool: TokenPool, password: string): Ledger {
  return {
    issuedAccess: new Set(pool.access),
    issuedRefresh: new Set(pool.refresh),
    consumed: new Set(),
    password,
    counts: new Map(),
    registered: new Map(),
    liveAccess: pool.access[0] ?? '',
    liveRefresh: pool.refresh[0] ?? '',
  };
}

export interface Observed {
  status: number;
  body: string;
  contentType: string | undefined;
  /** The refresh token taken from the cookie (cookie mode), if the response set one. */
  setCookieRefresh?: string;
}

/** The token the server's RFC 6750 parser extracts from the Authorization header. */
export type BearerParser = (header: string | undefined) => string | null | false;

function routeOf(path: string): string {
  const q = path.search(/[?#]/);
  return q < 0 ? path : path.slice(0, q);
}

function parsedJson(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text);
    return typeof v === 'object' && v !== null ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Judges one response; returns a problem description, or undefined when it is
 * acceptable. Updates the ledger with tokens the response issued.
 */
export function judge(
  c: FuzzCase,
  res: Observed,
  ledger: Ledger,
  parseBearer: BearerParser,
  leak: (text: string) => string | undefined,
  cookieName?: string,
): string | undefined {
  const route = routeOf(c.path);
  const bucket = `${res.status}`;
  ledger.counts.set(bucket, (ledger.counts.get(bucket) ?? 0) + 1);

  if (res.status >= 500 && !(res.status === 503 && c.storeDown)) return `status ${res.status}`;
  if (res.status < 100) return `status ${res.status}`;
  const isJson = (res.contentType ?? '').includes('json');
  if (res.status >= 400 || isJson) {
    const problem = leak(res.body);
    if (problem) return `${problem} in the body`;
  }
  // 417: Node's own answer to an unknown `Expect` (before any application code runs), with no body.
  if (res.status >= 400 && c.method !== 'HEAD' && !(res.status === 417 && res.body === '')) {
    const b = parsedJson(res.body);
    if (!b || typeof b.error !== 'string' || typeof b.error_description !== 'string')
      return 'error body is not {error, error_description}';
    if (res.status === 503 && b.error !== 'temporarily_unavailable') return `503 with error ${String(b.error)}`;
  }
  if (res.body.includes(PW_MARK) || (ledger.password && res.body.includes(ledger.password))) return 'a password was echoed';
  if (c.method === 'HEAD' || res.status >= 300) return undefined;

  // A success: was it deserved?
  const b = parsedJson(res.body);
  // The parameters as the server read them: by the content type, not by the look of the body.
  const ct = (c.headers['content-type'] ?? '').toLowerCase();
  const fields: Record<string, unknown> = ct.includes('json')
    ? (parsedJson(c.body ?? '') ?? {})
    : Object.fromEntries(new URLSearchParams(c.body ?? ''));
  if (route === '/auth/register' && res.status === 201) {
    if (typeof fields.username !== 'string' || typeof fields.password !== 'string')
      return 'registered without a username and password';
    ledger.registered.set(fields.username.trim().toLowerCase(), fields.password);
  }
  const bearer = parseBearer(c.headers.authorization);
  const needsBearer = route === '/me' || route === '/auth/introspect' || route === '/auth/logout-all';
  if (needsBearer && c.method !== 'OPTIONS') {
    if (typeof bearer !== 'string' || !ledger.issuedAccess.has(bearer))
      return `${route} accepted an access token that was never issued`;
    // Introspection may answer {active:false} for a token it refuses without the store; never active.
    if (c.storeDown && route === '/auth/logout-all') return `${route} succeeded while the store was down`;
    if (c.storeDown && route === '/auth/introspect' && b?.active !== false)
      return 'introspection vouched for a token while the store was down';
  }
  if (c.storeDown && STATEFUL_POSTS.has(route) && c.method === 'POST') return `${route} succeeded while the store was down`;
  if (c.storeDown && route === '/ready') return '/ready said ready while the store was down';

  if (c.method === 'POST' && (route === '/auth/token' || route === '/auth/refresh') && b && typeof b.access_token === 'string') {
    const grant = route === '/auth/refresh' ? 'refresh_token' : fields.grant_type;
    if (grant === 'password') {
      const name = typeof fields.username === 'string' ? fields.username.trim().toLowerCase() : '';
      const expected = ledger.registered.get(name) ?? (name === 'alice' || name === 'bob' ? ledger.password : undefined);
      if (expected === undefined || fields.password !== expected) return 'a password grant succeeded without the password';
    } else if (grant === 'refresh_token') {
      let presented = typeof fields.refresh_token === 'string' && fields.refresh_token !== '' ? fields.refresh_token : undefined;
      if (presented === undefined && cookieName && route === '/auth/refresh') {
        const m = new RegExp(`(?:^|;\\s*)${cookieName}=([^;]*)`).exec(c.headers.cookie ?? '');
        presented = m ? decodeURIComponent(m[1] as string) : undefined;
      }
      if (presented === undefined || !ledger.issuedRefresh.has(presented))
        return 'a refresh token that was never issued was accepted';
      if (ledger.consumed.has(presented)) return 'a consumed refresh token was accepted again';
      ledger.consumed.add(presented);
    } else {
      return `grant ${String(grant)} issued tokens`;
    }
    ledger.issuedAccess.add(b.access_token);
    ledger.liveAccess = b.access_token;
    const next = typeof b.refresh_token === 'string' ? b.refresh_token : res.setCookieRefresh;
    if (next) {
      ledger.issuedRefresh.add(next);
      ledger.liveRefresh = next;
    }
  }
  return undefined;
}
