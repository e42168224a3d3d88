/**
 * Reference server configuration: environment variables and `tessera serve`
 * flags (a flag wins over its variable), validated once at start-up. Every
 * problem is a {@link ConfigError} with a one-line message that names the
 * setting, says what is wrong and how to fix it (docs/configuration.md).
 *
 * @module
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { redactUrl } from '../internal/redact.js';
import { assertStrongKeys, createKeyRing, generateSecret, KEYGEN_HINT, type KeyRing, parseKeysEnv } from '../keys.js';
import { checkReuseGrace, DEFAULTS } from '../refresh/config.js';
import {
  SCHEMES,
  type Scheme,
  SESSION_ADDRESS_MODES,
  type SessionAddressMode,
  TOKEN_FORMATS,
  type TokenFormat,
} from '../refresh/types.js';
import { findStoreScheme, normalizeStoreSpec, storeHelp, storeSyntaxList } from '../stores/open.js';
import {
  ASYMMETRIC_ALGS,
  type AsymmetricAlg,
  generateSigningJwk,
  isAsymmetricAlg,
  parseSigningKeySet,
  type SigningKeySet,
} from '../tokens/jwk.js';
import { DEFAULT_SCRYPT, MAX_SCRYPT_N } from '../users/password.js';
import { type AuditTarget, parseAuditTarget } from './audit.js';
import { ensurePrivateDir } from './files.js';

/** One setting: its variable, its flag, and what `--help` and the docs say about it. */
export interface SettingDef {
  env: string;
  flag: string;
  /** Boolean flags take no value (`--log-requests`); the variable takes 1/0, true/false, yes/no, on/off. */
  boolean?: boolean;
  /** Placeholder shown in help. */
  arg?: string;
  help: string;
  default: string;
}

/** Every setting, in the order of `tessera serve --help` and docs/configuration.md. */
export const SETTINGS = {
  secret: {
    env: 'TESSERA_SECRET',
    flag: 'secret',
    arg: 'B64URL',
    help: 'signing key, base64url, >= 32 bytes (tessera keygen). Prefer the variable or --secret-file: flags show in ps',
    default: 'development: generated in the data directory; production: required',
  },
  keys: {
    env: 'TESSERA_KEYS',
    flag: 'keys',
    arg: 'KID:B64URL,...',
    help: 'key ring for rotation: the first key signs, all verify; a bare secret keeps its derived kid; wins over TESSERA_SECRET',
    default: 'unset',
  },
  secretFile: {
    env: 'TESSERA_SECRET_FILE',
    flag: 'secret-file',
    arg: 'PATH',
    help: 'read the secret from a file (Docker/Kubernetes secrets)',
    default: 'unset',
  },
  store: {
    env: 'TESSERA_STORE',
    flag: 'store',
    arg: 'SPEC',
    // From the store scheme registry when read, so a store registered by the application is listed too.
    get help() {
      return `${storeHelp()}; REDIS_URL also selects Redis`;
    },
    default: 'sqlite:<data dir>/tessera.db',
  },
  redisPrefix: {
    env: 'TESSERA_REDIS_PREFIX',
    flag: 'redis-prefix',
    arg: 'PREFIX',
    help: 'prefix of every Redis key (several deployments can share one Redis)',
    default: 'tessera:',
  },
  scheme: {
    env: 'TESSERA_SCHEME',
    flag: 'scheme',
    arg: 'jwt|sealed|opaque',
    help: 'the three original schemes: access and refresh format together',
    default: DEFAULTS.scheme,
  },
  accessFormat: {
    env: 'TESSERA_ACCESS_FORMAT',
    flag: 'access-format',
    arg: 'jwt|sealed|fernet|opaque',
    help: 'access token format (overrides the scheme)',
    default: 'from the scheme',
  },
  refreshFormat: {
    env: 'TESSERA_REFRESH_FORMAT',
    flag: 'refresh-format',
    arg: 'jwt|sealed|fernet|opaque',
    help: 'refresh token format (overrides the scheme)',
    default: 'from the scheme',
  },
  accessTtl: {
    env: 'TESSERA_ACCESS_TTL',
    flag: 'access-ttl',
    arg: 'SECONDS',
    help: 'access token lifetime',
    default: String(DEFAULTS.accessTtlSeconds),
  },
  refreshTtl: {
    env: 'TESSERA_REFRESH_TTL',
    flag: 'refresh-ttl',
    arg: 'SECONDS',
    help: 'refresh token lifetime',
    default: String(DEFAULTS.refreshTtlSeconds),
  },
  reuseGrace: {
    env: 'TESSERA_REUSE_GRACE',
    flag: 'reuse-grace',
    arg: 'SECONDS',
    help: 'a consumed refresh token presented again within this window returns the same new pair instead of revoking the session',
    default: String(DEFAULTS.reuseGraceSeconds),
  },
  checkRevocation: {
    env: 'TESSERA_CHECK_REVOCATION',
    flag: 'check-revocation',
    boolean: true,
    help: 'also look up revocation for jwt/sealed/fernet access tokens on every request (opaque ones always are); not needed: revocations are pushed to every instance and refused within a second without a lookup',
    default: 'off',
  },
  accessCache: {
    env: 'TESSERA_ACCESS_CACHE',
    flag: 'access-cache',
    arg: 'N',
    help: 'remember up to N verified jwt/sealed/fernet access tokens, so a repeat skips the MAC and the parse (expiry and type are still checked); 0 turns it off',
    default: String(DEFAULTS.accessCacheSize),
  },
  legacyRefreshKeys: {
    env: 'TESSERA_LEGACY_REFRESH_KEYS',
    flag: 'legacy-refresh-keys',
    arg: 'on|off',
    help: 'also accept jwt/sealed/fernet refresh tokens made with the secret itself rather than the derived refresh key (docs/keys.md) until they expire; off refuses them',
    default: 'on',
  },
  port: { env: 'PORT', flag: 'port', arg: 'N', help: 'TCP port; 0 picks a free one (the address is printed)', default: '3000' },
  host: { env: 'HOST', flag: 'host', arg: 'H', help: 'interface to listen on; 0.0.0.0 in a container', default: '127.0.0.1' },
  dataDir: {
    env: 'TESSERA_DATA_DIR',
    flag: 'data-dir',
    arg: 'DIR',
    help: 'where the default SQLite database and the development secret live',
    default: './.tessera',
  },
  logLevel: {
    env: 'TESSERA_LOG_LEVEL',
    flag: 'log-level',
    arg: 'LEVEL',
    help: 'fatal|error|warn|info|debug|trace|silent',
    default: 'warn',
  },
  logRequests: {
    env: 'TESSERA_LOG_REQUESTS',
    flag: 'log-requests',
    boolean: true,
    help: 'one log line per request and response, at info level (costs throughput)',
    default: 'off',
  },
  allowRegister: {
    env: 'TESSERA_ALLOW_REGISTER',
    flag: 'allow-register',
    boolean: true,
    help: 'serve POST /auth/register (anyone can create a user)',
    default: 'off',
  },
  passwordGrant: {
    env: 'TESSERA_PASSWORD_GRANT',
    flag: 'password-grant',
    arg: 'on|off',
    help: 'serve grant_type=password (RFC 6749 §4.3) to clients registered for it; off (0) turns it off for every client (RFC 9700 §2.4) and takes it out of the metadata',
    default: 'on',
  },
  dpopNonce: {
    env: 'TESSERA_DPOP_NONCE',
    flag: 'dpop-nonce',
    boolean: true,
    help: 'DPoP proofs must carry a server nonce (RFC 9449 §8; DPoP-Nonce, use_dpop_nonce), derived from the signing key',
    default: 'off',
  },
  sessionAddress: {
    env: 'TESSERA_SESSION_ADDRESS',
    flag: 'session-address',
    arg: 'full|truncated|off',
    help: 'what a session keeps of the client address for "where you are signed in": the /24 (IPv4) or /48 (IPv6) network, the address, or nothing',
    default: 'truncated',
  },
  sessionSeconds: {
    env: 'TESSERA_SESSION_TTL',
    flag: 'session-ttl',
    arg: 'SECONDS',
    help: 'how long a browser signed in on the login page of /authorize skips the password',
    default: '43200',
  },
  cookieMode: {
    env: 'TESSERA_COOKIE_MODE',
    flag: 'cookie-mode',
    boolean: true,
    help: 'browser mode: refresh token in an HttpOnly; Secure; SameSite=Strict cookie (Path=/auth) with CSRF double-submit',
    default: 'off',
  },
  insecureCookies: {
    env: 'TESSERA_INSECURE_COOKIES',
    flag: 'insecure-cookies',
    boolean: true,
    help: 'drop the Secure attribute (plain-http development on a host other than localhost only)',
    default: 'off',
  },
  rateLimit: {
    env: 'TESSERA_RATE_LIMIT',
    flag: 'rate-limit',
    arg: 'N',
    help: 'wrong passwords per client address (IPv6: per /64; 5x this per /48) per window before a back-off; each attempt counts before its password is checked; successes and refresh tokens never count; 0 turns the limiter off',
    default: '20',
  },
  loginLimit: {
    env: 'TESSERA_LOGIN_LIMIT',
    flag: 'login-limit',
    arg: 'N',
    help: 'wrong passwords per username per client address (IPv6: per /64) per window before a back-off',
    default: '5',
  },
  rateWindow: {
    env: 'TESSERA_RATE_WINDOW',
    flag: 'rate-window',
    arg: 'SECONDS',
    help: 'window of the failure counters, and the first back-off (it doubles with each further block, up to 1 hour)',
    default: '60',
  },
  scope: {
    env: 'TESSERA_SCOPE',
    flag: 'scope',
    arg: 'SCOPES',
    help: 'space-separated scope granted at login (RFC 6749 §3.3); empty for none',
    default: 'api',
  },
  issuer: {
    env: 'TESSERA_ISSUER',
    flag: 'issuer',
    arg: 'URL',
    help: 'the iss of every token and the RFC 8414 issuer: the public URL, the same on every instance (tokens refresh only under the issuer they were issued by)',
    default: 'development: the URL listened on (loopback for HOST 0.0.0.0 or ::); production: required',
  },
  audience: {
    env: 'TESSERA_AUDIENCE',
    flag: 'audience',
    arg: 'AUD',
    help: 'the aud of access tokens, required on verification (RFC 9068 §4)',
    default: 'the issuer',
  },
  defaultClient: {
    env: 'TESSERA_DEFAULT_CLIENT',
    flag: 'default-client',
    arg: 'ID',
    help: 'the built-in public client of requests that name none; empty: every request must name a client',
    default: 'tessera',
  },
  trustProxy: {
    env: 'TESSERA_TRUST_PROXY',
    flag: 'trust-proxy',
    arg: 'off|N|ADDR,...',
    help: 'behind reverse proxies: the number of proxies in front (1 = one), or their addresses/CIDRs; the client address is the right-most X-Forwarded-For entry not added by them',
    default: 'off',
  },
  requestTimeout: {
    env: 'TESSERA_REQUEST_TIMEOUT',
    flag: 'request-timeout',
    arg: 'MS',
    help: 'a request (headers and body) must arrive within this many milliseconds, or its connection is closed (408)',
    default: '30000',
  },
  headersTimeout: {
    env: 'TESSERA_HEADERS_TIMEOUT',
    flag: 'headers-timeout',
    arg: 'MS',
    help: 'the request headers must arrive within this many milliseconds (at most the request timeout)',
    default: '10000',
  },
  keepAliveTimeout: {
    env: 'TESSERA_KEEP_ALIVE_TIMEOUT',
    flag: 'keep-alive-timeout',
    arg: 'MS',
    help: 'an idle keep-alive connection is closed after this many milliseconds',
    default: '5000',
  },
  connectionTimeout: {
    env: 'TESSERA_CONNECTION_TIMEOUT',
    flag: 'connection-timeout',
    arg: 'MS',
    help: 'a connection on which nothing moves (no byte read or written) for this many milliseconds is closed (checked every quarter of it, at most every 5 s)',
    default: '60000',
  },
  scryptN: {
    env: 'TESSERA_SCRYPT_N',
    flag: 'scrypt-n',
    arg: 'N',
    help: 'scrypt cost of new password hashes, a power of two (lower only for tests)',
    default: String(DEFAULT_SCRYPT.N),
  },
  noDocs: {
    env: 'TESSERA_NO_DOCS',
    flag: 'no-docs',
    boolean: true,
    help: 'do not serve /docs and /openapi.json',
    default: 'off',
  },
  noDemo: {
    env: 'TESSERA_NO_DEMO',
    flag: 'no-demo',
    boolean: true,
    help: 'do not serve the demo page at / (and the browser client at /client.js)',
    default: 'off',
  },
  accessAlg: {
    env: 'TESSERA_ACCESS_ALG',
    flag: 'access-alg',
    arg: 'HS256|EdDSA|ES256|RS256',
    help: 'signature of jwt access tokens; EdDSA/ES256/RS256 publish the public keys at /.well-known/jwks.json so APIs verify without the secret',
    default: 'HS256',
  },
  signingKeyFile: {
    env: 'TESSERA_SIGNING_KEY_FILE',
    flag: 'signing-key-file',
    arg: 'PATH',
    help: 'JWK Set of private keys for EdDSA/ES256/RS256 (tessera keygen --alg EdDSA): the first key signs, all verify',
    default: 'development: generated in the data directory; production: required with EdDSA/ES256/RS256',
  },
  metricsPort: {
    env: 'TESSERA_METRICS_PORT',
    flag: 'metrics-port',
    arg: 'N',
    help: 'serve Prometheus metrics at http://HOST:N/metrics, a listener of its own (never the API port); needs prom-client (docs/operations.md)',
    default: 'off',
  },
  audit: {
    env: 'TESSERA_AUDIT',
    flag: 'audit',
    arg: 'stdout|PATH|off',
    help: 'the audit trail: one JSON line per security event (sign-in, refresh refused, reuse, logout, revocation, ...) to stdout ("stream":"audit") or appended to a file (mode 0600, reopened on SIGHUP)',
    default: 'off',
  },
} as const satisfies Record<string, SettingDef>;

export type SettingName = keyof typeof SETTINGS;
/** Parsed flags: string values, `true` for boolean flags given. */
export type Flags = Partial<Record<SettingName, string | boolean>>;

export type SecretSource =
  | { kind: 'keys'; from: string }
  | { kind: 'secret'; from: string }
  | { kind: 'file'; path: string }
  | { kind: 'development'; path: string; created: boolean };

export interface ServerConfig {
  production: boolean;
  dataDir: string;
  /** Store spec for `openStore`. */
  store: string;
  /** Which setting chose the store (for messages). */
  storeFrom: string;
  redisPrefix: string;
  /** The key ring; absent until {@link resolveSecret} ran when no secret was configured. */
  keys?: KeyRing;
  secretSource?: SecretSource;
  scheme: Scheme;
  accessFormat: TokenFormat;
  refreshFormat: TokenFormat;
  accessTtl: number;
  refreshTtl: number;
  reuseGrace: number;
  checkRevocation: boolean;
  accessCache: number;
  /** Accept refresh tokens made with the configured keys themselves (`refresh.acceptLegacyKeys`). */
  legacyRefreshKeys: boolean;
  port: number;
  host: string;
  logLevel: string;
  logRequests: boolean;
  allowRegister: boolean;
  /** Serve grant_type=password (`TESSERA_PASSWORD_GRANT`). */
  passwordGrant: boolean;
  /** DPoP proofs must carry a server nonce (`TESSERA_DPOP_NONCE`, RFC 9449 §8). */
  dpopNonce: boolean;
  /** What a session keeps of the client address (`TESSERA_SESSION_ADDRESS`). */
  sessionAddress: SessionAddressMode;
  /** Lifetime of the browser session of `/authorize`, seconds. */
  sessionSeconds: number;
  cookieMode: boolean;
  cookieSecure: boolean;
  /** Failures per client address (`max`) and per username and address (`perUser`) per window; false: off. */
  rateLimit: { max: number; perUser: number; windowSeconds: number } | false;
  scope: string | undefined;
  /** RFC 8414 / RFC 9068 `iss`; undefined: the URL the server listens on. */
  issuer: string | undefined;
  /** RFC 9068 `aud`; undefined: the issuer. */
  audience: string | undefined;
  /** The built-in public client (`''`: none). */
  defaultClient: string;
  /** false, a hop count, or the proxies' addresses/CIDRs (see {@link parseTrustProxy}). */
  trustProxy: TrustProxy;
  timeouts: ServerTimeouts;
  scryptN: number;
  docs: boolean;
  demo: boolean;
  /** `HS256` (the secret), or `EdDSA`/`ES256`/`RS256` with {@link ServerConfig.signingKeys}. */
  accessAlg: 'HS256' | AsymmetricAlg;
  /** The EdDSA/ES256/RS256 key set; absent with HS256, and until {@link resolveSigningKeys} ran in development. */
  signingKeys?: SigningKeySet;
  /** The port of the metrics listener (on `host`); undefined: no metrics. */
  metricsPort: number | undefined;
  /** Where the audit trail goes. */
  audit: AuditTarget;
  /** Where the signing keys came from (for the start-up note). */
  signingKeySource?: { kind: 'file'; path: string } | { kind: 'development'; path: string; created: boolean };
}

/** How far to trust `X-Forwarded-For`: not at all, a number of proxy hops, or a list of proxy addresses/CIDRs. */
export type TrustProxy = false | number | string[];

/** Socket timeouts in milliseconds (Node's http.Server options of the same names). */
export interface ServerTimeouts {
  requestTimeout: number;
  headersTimeout: number;
  keepAliveTimeout: number;
  connectionTimeout: number;
}

const PROXY_PRESETS = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * `TESSERA_TRUST_PROXY`: `off`/`0` (default), a hop count `N`, or a comma-separated list of
 * proxy addresses or CIDRs (and proxy-addr's presets loopback, linklocal, uniquelocal).
 * `true`/`on` are refused: trusting every hop lets any client pick its address.
 */
export function parseTrustProxy(value: string | undefined, from = 'TESSERA_TRUST_PROXY'): TrustProxy {
  const v = (value ?? 'off').trim().toLowerCase();
  if (v === '' || v === 'off' || v === 'false' || v === 'no' || v === '0') return false;
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    if (n > 32) throw new ConfigError(`${from} must be a hop count from 0 to 32, got "${value}"`);
    return n;
  }
  if (v === 'true' || v === 'on' || v === 'yes') {
    throw new ConfigError(
      `${from} takes the number of proxies in front of the server (1 for one) or their addresses, not "${value}": trusting every X-Forwarded-For entry lets clients choose their address`,
    );
  }
  const list = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const entry of list) {
    if (PROXY_PRESETS.includes(entry)) continue;
    const [addr, bits, extra] = entry.split('/');
    const family = isIP(addr ?? '');
    const max = family === 6 ? 128 : 32;
    const okBits = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max);
    if (family === 0 || !okBits || extra !== undefined) {
      throw new ConfigError(
        `${from}: "${entry}" is not an IP address or CIDR (expected off, a hop count, or addresses like 10.0.0.1,10.1.0.0/16)`,
      );
    }
  }
  return list.length === 0 ? false : list;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const TEN_YEARS = 10 * 365 * 86400;

/** `TESSERA_X` or `--x`, whichever was used (flag first), for messages. */
function label(name: SettingName, flags: Flags): string {
  const s = SETTINGS[name];
  return flags[name] !== undefined ? `--${s.flag}` : s.env;
}

function raw(name: SettingName, env: NodeJS.ProcessEnv, flags: Flags): string | undefined {
  const f = flags[name];
  if (typeof f === 'string') return f;
  if (f === true) return '1';
  const v = env[SETTINGS[name].env];
  return v === undefined || v === '' ? undefined : v;
}

function bool(name: SettingName, env: NodeJS.ProcessEnv, flags: Flags): boolean {
  const v = raw(name, env, flags);
  if (v === undefined) return false;
  const s = v.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off'].includes(s)) return false;
  throw new ConfigError(`${label(name, flags)} must be 1 or 0 (true/false, yes/no, on/off), got "${v}"`);
}

function int(name: SettingName, env: NodeJS.ProcessEnv, flags: Flags, min: number, max: number, what: string): number {
  const v = raw(name, env, flags) ?? SETTINGS[name].default;
  const n = /^\d+$/.test(v.trim()) ? Number(v.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${label(name, flags)} must be ${what} from ${min} to ${max}, got "${v}"`);
  }
  return n;
}

function format(name: 'accessFormat' | 'refreshFormat', env: NodeJS.ProcessEnv, flags: Flags, preset: TokenFormat): TokenFormat {
  const v = raw(name, env, flags);
  if (v === undefined) return preset;
  if (!(TOKEN_FORMATS as readonly string[]).includes(v)) {
    throw new ConfigError(`${label(name, flags)} must be one of ${TOKEN_FORMATS.join(', ')}, got "${v}"`);
  }
  return v as TokenFormat;
}

function addressMode(env: NodeJS.ProcessEnv, flags: Flags): SessionAddressMode {
  const v = raw('sessionAddress', env, flags) ?? SETTINGS.sessionAddress.default;
  if (!(SESSION_ADDRESS_MODES as readonly string[]).includes(v)) {
    throw new ConfigError(`${label('sessionAddress', flags)} must be one of ${SESSION_ADDRESS_MODES.join(', ')}, got "${v}"`);
  }
  return v as SessionAddressMode;
}

export interface StoreConfig {
  dataDir: string;
  store: string;
  storeFrom: string;
  redisPrefix: string;
  scryptN: number;
}

/** The store settings alone (what `tessera user add` needs): --store, TESSERA_STORE, REDIS_URL, then the embedded default. */
export function storeConfig(env: NodeJS.ProcessEnv, flags: Flags = {}): StoreConfig {
  const dataDir = resolve(raw('dataDir', env, flags) ?? SETTINGS.dataDir.default);
  let store = raw('store', env, flags);
  let storeFrom = label('store', flags);
  if (store === undefined && env.REDIS_URL) {
    store = env.REDIS_URL;
    storeFrom = 'REDIS_URL';
  }
  if (store === undefined) {
    store = `sqlite:${join(dataDir, 'tessera.db')}`;
    storeFrom = 'default';
  }
  // The scheme registry (src/stores/schemes.ts) knows every store, built-in or registered.
  if (!findStoreScheme(store)) {
    throw new ConfigError(`${storeFrom} must be ${storeSyntaxList()}, got "${redactUrl(store)}"`);
  }
  store = normalizeStoreSpec(store);
  const scryptN = int('scryptN', env, flags, 1024, MAX_SCRYPT_N, 'a power of two');
  if ((scryptN & (scryptN - 1)) !== 0) throw new ConfigError(`${label('scryptN', flags)} must be a power of two, got ${scryptN}`);
  return { dataDir, store, storeFrom, redisPrefix: raw('redisPrefix', env, flags) ?? SETTINGS.redisPrefix.default, scryptN };
}

/**
 * Parses and validates everything except the secret's development fallback
 * (which writes a file: see {@link resolveSecret}). Pure: no I/O but reading a
 * `TESSERA_SECRET_FILE`.
 */
export function parseConfig(env: NodeJS.ProcessEnv, flags: Flags = {}): ServerConfig {
  const production = env.NODE_ENV === 'production';

  const schemeText = raw('scheme', env, flags) ?? SETTINGS.scheme.default;
  if (!Object.hasOwn(SCHEMES, schemeText)) {
    throw new ConfigError(`${label('scheme', flags)} must be one of ${Object.keys(SCHEMES).join(', ')}, got "${schemeText}"`);
  }
  const scheme = schemeText as Scheme;
  const accessFormat = format('accessFormat', env, flags, SCHEMES[scheme].access);
  const refreshFormat = format('refreshFormat', env, flags, SCHEMES[scheme].refresh);

  const accessTtl = int('accessTtl', env, flags, 1, TEN_YEARS, 'a whole number of seconds');
  const refreshTtl = int('refreshTtl', env, flags, 1, TEN_YEARS, 'a whole number of seconds');
  const reuseGrace = int('reuseGrace', env, flags, 0, 3600, 'a whole number of seconds');
  checkReuseGrace(reuseGrace, refreshTtl, label('reuseGrace', flags), 'the refresh token lifetime');

  const logLevel = (raw('logLevel', env, flags) ?? SETTINGS.logLevel.default).toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`${label('logLevel', flags)} must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }

  const { dataDir, store, storeFrom, redisPrefix, scryptN } = storeConfig(env, flags);

  const rateMax = int('rateLimit', env, flags, 0, 1_000_000, 'a whole number');
  const rateWindow = int('rateWindow', env, flags, 1, 86400, 'a whole number of seconds');
  const loginLimit = int('loginLimit', env, flags, 1, 1_000_000, 'a whole number');
  const requestTimeout = int('requestTimeout', env, flags, 1, 3_600_000, 'a whole number of milliseconds');
  const headersTimeout = int('headersTimeout', env, flags, 1, 3_600_000, 'a whole number of milliseconds');
  if (headersTimeout > requestTimeout) {
    throw new ConfigError(
      `${label('headersTimeout', flags)} (${headersTimeout}) must not exceed ${label('requestTimeout', flags)} (${requestTimeout})`,
    );
  }

  const scopeText = raw('scope', env, flags) ?? (env[SETTINGS.scope.env] === '' ? '' : SETTINGS.scope.default);
  const scope = scopeText.trim().split(/\s+/).filter(Boolean).join(' ');
  // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
  if (!/^[\x21\x23-\x5b\x5d-\x7e ]*$/.test(scope)) {
    throw new ConfigError(`${label('scope', flags)} may hold only printable ASCII without " and \\ (RFC 6749 §3.3)`);
  }

  const issuer = raw('issuer', env, flags);
  if (issuer !== undefined) {
    // RFC 8414 §2: a URL using https (http in development) with no query or fragment.
    let url: URL | undefined;
    try {
      url = new URL(issuer);
    } catch {
      url = undefined;
    }
    if (!url || !/^https?:$/.test(url.protocol) || url.search !== '' || url.hash !== '') {
      throw new ConfigError(`${label('issuer', flags)} must be an http(s) URL without query or fragment, got "${issuer}"`);
    }
  }
  const defaultClient =
    raw('defaultClient', env, flags) ?? (env[SETTINGS.defaultClient.env] === '' ? '' : SETTINGS.defaultClient.default);
  if (defaultClient !== '' && !/^[A-Za-z0-9._~@+-]{1,128}$/.test(defaultClient)) {
    throw new ConfigError(
      `${label('defaultClient', flags)} must be a client id (letters, digits, . _ ~ @ + -), got "${defaultClient}"`,
    );
  }

  const config: ServerConfig = {
    production,
    dataDir,
    store,
    storeFrom,
    redisPrefix,
    scheme,
    accessFormat,
    refreshFormat,
    accessTtl,
    refreshTtl,
    reuseGrace,
    checkRevocation: bool('checkRevocation', env, flags),
    accessCache: int('accessCache', env, flags, 0, 1_000_000, 'a whole number'),
    legacyRefreshKeys: raw('legacyRefreshKeys', env, flags) === undefined || bool('legacyRefreshKeys', env, flags),
    port: int('port', env, flags, 0, 65535, 'a port number'),
    host: raw('host', env, flags) ?? SETTINGS.host.default,
    logLevel,
    logRequests: bool('logRequests', env, flags),
    allowRegister: bool('allowRegister', env, flags),
    passwordGrant: raw('passwordGrant', env, flags) === undefined || bool('passwordGrant', env, flags),
    dpopNonce: bool('dpopNonce', env, flags),
    sessionAddress: addressMode(env, flags),
    sessionSeconds: int('sessionSeconds', env, flags, 60, 31_536_000, 'a number of seconds'),
    cookieMode: bool('cookieMode', env, flags),
    cookieSecure: !bool('insecureCookies', env, flags),
    rateLimit: rateMax === 0 ? false : { max: rateMax, perUser: loginLimit, windowSeconds: rateWindow },
    scope: scope === '' ? undefined : scope,
    issuer,
    audience: raw('audience', env, flags),
    defaultClient,
    trustProxy: parseTrustProxy(raw('trustProxy', env, flags), label('trustProxy', flags)),
    timeouts: {
      requestTimeout,
      headersTimeout,
      keepAliveTimeout: int('keepAliveTimeout', env, flags, 1, 3_600_000, 'a whole number of milliseconds'),
      connectionTimeout: int('connectionTimeout', env, flags, 1, 3_600_000, 'a whole number of milliseconds'),
    },
    scryptN,
    docs: !bool('noDocs', env, flags),
    demo: !bool('noDemo', env, flags),
    accessAlg: 'HS256',
    metricsPort: undefined,
    audit: parseAuditTarget(raw('audit', env, flags)),
  };
  if (raw('metricsPort', env, flags) !== undefined) {
    config.metricsPort = int('metricsPort', env, flags, 0, 65535, 'a port number');
    if (config.metricsPort !== 0 && config.metricsPort === config.port) {
      throw new ConfigError(
        `${label('metricsPort', flags)} must differ from ${label('port', flags)} (${config.port}): the metrics are never served on the API port`,
      );
    }
  }
  parseSigningConfig(config, env, flags);

  const keys = raw('keys', env, flags);
  const secret = raw('secret', env, flags);
  const secretFile = raw('secretFile', env, flags);
  if (keys !== undefined) {
    const from = label('keys', flags);
    config.keys = withLabel(from, () => createKeyRing(parseKeysEnv(keys)));
    config.secretSource = { kind: 'keys', from };
    if (production) assertStrongKeys(config.keys, from);
  } else if (secret !== undefined) {
    const from = label('secret', flags);
    config.keys = withLabel(from, () => createKeyRing([{ secret: secret.trim() }]));
    config.secretSource = { kind: 'secret', from };
    if (production) assertStrongKeys(config.keys, from);
  } else if (secretFile !== undefined) {
    const from = label('secretFile', flags);
    let text: string;
    try {
      text = readFileSync(secretFile, 'utf8').trim();
    } catch (e) {
      throw new ConfigError(`${from}: cannot read "${secretFile}" (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    config.keys = withLabel(`the secret in ${secretFile}`, () => createKeyRing([{ secret: text }]));
    config.secretSource = { kind: 'file', path: secretFile };
    if (production) assertStrongKeys(config.keys, `the secret in ${secretFile}`);
  } else if (production) {
    throw new ConfigError(
      `TESSERA_SECRET is not set and NODE_ENV=production never generates one; set TESSERA_SECRET (or TESSERA_KEYS, TESSERA_SECRET_FILE): ${KEYGEN_HINT}`,
    );
  }
  // RFC 8414 §2 / RFC 9068 §2.2: `iss` names the server as its clients reach it, and every
  // self-contained token carries it and is checked against it. The listen URL changes with the
  // port and the host, so refresh tokens would stop refreshing after a move or on a second
  // instance: production names the issuer once, like the secret.
  if (production && issuer === undefined) {
    throw new ConfigError(
      'TESSERA_ISSUER is not set and NODE_ENV=production never defaults it to the listen URL; set TESSERA_ISSUER to the public URL clients use (e.g. https://auth.example.com), the same on every instance',
    );
  }
  return config;
}

/** Re-labels a key error with the setting it came from ("secret has 16 bytes" -> "TESSERA_SECRET has 16 bytes"). */
function withLabel<T>(from: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ConfigError)
      throw new ConfigError(e.message.replace(/^(secret|key #\d+|key "[^"]*")/, (m) => `${from}: ${m}`));
    throw e;
  }
}

/**
 * Development mode without a secret: use (or create) `<data dir>/secret`, mode
 * 0600 in a 0700 directory. Never in production: {@link parseConfig} refused
 * already. Returns the warning lines the caller must print to stderr.
 */
export function resolveSecret(config: ServerConfig): string[] {
  if (config.keys) return [];
  const path = join(config.dataDir, 'secret');
  const warnings: string[] = [];
  let created = false;
  // The data directory is tessera's own: 0700 whatever the umask, even if `user add` made it first.
  ensurePrivateDir(config.dataDir, true);
  if (!existsSync(path)) {
    try {
      // 'wx': never overwrite a secret another process just wrote.
      writeFileSync(path, `${generateSecret()}\n`, { mode: 0o600, flag: 'wx' });
      chmodSync(path, 0o600); // the mode above went through the umask
      created = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ConfigError(
          `cannot write the development secret to ${path} (${(e as NodeJS.ErrnoException).code}); set TESSERA_SECRET or TESSERA_DATA_DIR`,
        );
      }
    }
  }
  if (!created && (statSync(path).mode & 0o077) !== 0) {
    chmodSync(path, 0o600);
    warnings.push(`tessera: WARNING: ${path} was readable by other users; its mode is now 0600`);
  }
  config.keys = withLabel(`the secret in ${path}`, () => createKeyRing([{ secret: readFileSync(path, 'utf8').trim() }]));
  config.secretSource = { kind: 'development', path, created };
  const bar = '!'.repeat(78);
  warnings.unshift(
    bar,
    created
      ? `tessera: WARNING: DEVELOPMENT MODE: no TESSERA_SECRET set, so a new secret was generated and saved in ${path} (mode 0600).`
      : `tessera: WARNING: DEVELOPMENT MODE: no TESSERA_SECRET set; using the generated secret in ${path}.`,
    'tessera: WARNING: anyone who can read that file can mint tokens. In production set TESSERA_SECRET (tessera keygen);',
    'tessera: WARNING: with NODE_ENV=production the server refuses to start without it.',
    bar,
  );
  return warnings;
}

/**
 * `TESSERA_ACCESS_ALG` and `TESSERA_SIGNING_KEY_FILE`. EdDSA/ES256/RS256 sign
 * jwt access tokens only (refresh tokens never leave the issuer and keep the secret),
 * so another access format is refused; a key file without an asymmetric alg is a
 * mistake, refused too. Production needs the file; development may generate one
 * ({@link resolveSigningKeys}).
 */
/** "EdDSA, ES256 or RS256". */
const ALG_LIST = `${ASYMMETRIC_ALGS.slice(0, -1).join(', ')} or ${ASYMMETRIC_ALGS[ASYMMETRIC_ALGS.length - 1]}`;

function parseSigningConfig(config: ServerConfig, env: NodeJS.ProcessEnv, flags: Flags): void {
  const algText = raw('accessAlg', env, flags) ?? SETTINGS.accessAlg.default;
  if (algText !== 'HS256' && !isAsymmetricAlg(algText)) {
    throw new ConfigError(`${label('accessAlg', flags)} must be HS256, ${ALG_LIST}, got "${algText}"`);
  }
  const file = raw('signingKeyFile', env, flags);
  if (algText === 'HS256') {
    if (file !== undefined) {
      throw new ConfigError(
        `${label('signingKeyFile', flags)} is set but ${label('accessAlg', flags)} is HS256; set TESSERA_ACCESS_ALG=${ALG_LIST} to sign with it`,
      );
    }
    return;
  }
  config.accessAlg = algText;
  if (config.accessFormat !== 'jwt') {
    throw new ConfigError(
      `${label('accessAlg', flags)}=${algText} signs jwt access tokens; the access format is ${config.accessFormat}`,
    );
  }
  if (file === undefined) {
    if (config.production) {
      throw new ConfigError(
        `TESSERA_ACCESS_ALG=${algText} needs TESSERA_SIGNING_KEY_FILE and NODE_ENV=production never generates keys; create one with \`tessera keygen --alg ${algText} > keys.json\` (mode 0600)`,
      );
    }
    return;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(
      `${label('signingKeyFile', flags)}: cannot read "${file}" (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  config.signingKeys = parseSigningKeySet(text, `the signing key set in ${file}`);
  config.signingKeySource = { kind: 'file', path: file };
  checkSignerAlg(config, `the first key of ${file}`);
}

function checkSignerAlg(config: ServerConfig, where: string): void {
  const keys = config.signingKeys as SigningKeySet;
  if (keys.alg !== config.accessAlg) {
    throw new ConfigError(
      `${where} is an ${keys.alg} key but TESSERA_ACCESS_ALG is ${config.accessAlg}; put an ${config.accessAlg} key first`,
    );
  }
}

/**
 * Development mode with EdDSA/ES256/RS256 and no key file: use (or create)
 * `<data dir>/signing-keys-<alg>.json`, mode 0600 in a 0700 directory. Never in
 * production ({@link parseConfig} refused already). Returns warning lines for stderr.
 */
export function resolveSigningKeys(config: ServerConfig): string[] {
  if (config.accessAlg === 'HS256' || config.signingKeys) return [];
  const path = join(config.dataDir, `signing-keys-${config.accessAlg}.json`);
  const warnings: string[] = [];
  let created = false;
  if (!existsSync(path)) {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    try {
      // 'wx': never overwrite keys another process just wrote.
      writeFileSync(path, `${JSON.stringify({ keys: [generateSigningJwk(config.accessAlg)] })}\n`, { mode: 0o600, flag: 'wx' });
      created = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ConfigError(
          `cannot write the development signing keys to ${path} (${(e as NodeJS.ErrnoException).code}); set TESSERA_SIGNING_KEY_FILE or TESSERA_DATA_DIR`,
        );
      }
    }
  }
  if (!created && (statSync(path).mode & 0o077) !== 0) {
    chmodSync(path, 0o600);
    warnings.push(`tessera: WARNING: ${path} was readable by other users; its mode is now 0600`);
  }
  config.signingKeys = parseSigningKeySet(readFileSync(path, 'utf8'), `the signing key set in ${path}`);
  config.signingKeySource = { kind: 'development', path, created };
  checkSignerAlg(config, `the first key of ${path}`);
  warnings.push(
    `tessera: WARNING: DEVELOPMENT MODE: no TESSERA_SIGNING_KEY_FILE set; ${created ? 'generated' : 'using'} the ${config.accessAlg} signing keys in ${path} (mode 0600).`,
    `tessera: WARNING: in production set TESSERA_SIGNING_KEY_FILE (tessera keygen --alg ${config.accessAlg}); NODE_ENV=production refuses to start without it.`,
  );
  return warnings;
}
