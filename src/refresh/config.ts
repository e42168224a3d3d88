/**
 * The token service's options after defaults: every default stated once
 * ({@link DEFAULTS}), every option validated once ({@link resolveConfig}).
 * The reference server's settings (src/server/config.ts) show and parse these
 * same defaults; they do not restate them.
 *
 * @module
 */
import { ConfigError } from '../errors.js';
import { SCHEMES, type Scheme, TOKEN_FORMATS, type TokenFormat, type TokenServiceOptions } from './types.js';

/** The options after defaults, as the service runs with them. */
export interface TokenServiceConfig {
  accessFormat: TokenFormat;
  refreshFormat: TokenFormat;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  reuseGraceSeconds: number;
  absoluteLifetimeSeconds: number;
  checkRevocation: boolean;
  /** Keep revocations in memory, pushed by the store, so self-contained access tokens are refused without a lookup. */
  revocationPush: boolean;
  /**
   * Also accept self-contained refresh tokens made with the configured keys themselves (before
   * refresh tokens had keys of their own), for the rest of their lives; new ones never are.
   */
  acceptLegacyRefreshKeys: boolean;
  /** Pushed revocations held in memory at most; beyond it, older tokens ask the store once each. */
  revocationCap: number;
  /** Verified self-contained access tokens remembered (0: none). */
  accessCacheSize: number;
  leewaySeconds: number;
}

export const DEFAULTS = {
  /** The original three-scheme design's first preset: jwt access and refresh tokens. */
  scheme: 'jwt' as Scheme,
  /** 15 minutes. */
  accessTtlSeconds: 900,
  /** 30 days. */
  refreshTtlSeconds: 2_592_000,
  /** Off: with it, the exactly-one rule holds; see docs/stores.md for when to turn it on. */
  reuseGraceSeconds: 0,
  /** 90 days: no login session outlives this, however often it is refreshed. */
  absoluteLifetimeSeconds: 7_776_000,
  /**
   * A client sends the same access token until it expires; remembering the last
   * thousand verified ones skips the MAC and the parse on repeat (bench/http.ts:
   * GET /me). About 1 KB each.
   */
  accessCacheSize: 1000,
  /** No clock skew tolerated on `exp`/`nbf` unless asked for (RFC 7519 §4.1.4 allows "some small leeway"). */
  leewaySeconds: 0,
  /** Off: the pushed revocations (`revocationPush`) already refuse revoked tokens within a second, with no lookup. */
  checkRevocation: false,
  /** On: every instance refuses a revoked self-contained access token within a second (docs/security.md). */
  revocationPush: true,
  /**
   * On: refresh tokens made with a configured key itself (underived) keep refreshing until they
   * expire; none is minted. Off refuses them (docs/keys.md).
   */
  acceptLegacyRefreshKeys: true,
  /** About 100 bytes each: ~10 MB per instance at most (src/refresh/revocations.ts). */
  revocationCap: 100_000,
} as const;

function seconds(value: number | undefined, fallback: number, name: string, min: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new ConfigError(`${name} must be an integer number of seconds >= ${min} (got ${String(value)})`);
  }
  return v;
}

function count(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new ConfigError(`${name} must be a non-negative integer (got ${String(value)})`);
  }
  return v;
}

function format(value: unknown, name: string): TokenFormat {
  if (!TOKEN_FORMATS.includes(value as TokenFormat)) {
    throw new ConfigError(`${name} must be one of ${TOKEN_FORMATS.join(', ')} (got ${String(value)})`);
  }
  return value as TokenFormat;
}

/** Applies the defaults and validates; a {@link ConfigError} names the first bad option. */
export function resolveConfig(options: TokenServiceOptions): TokenServiceConfig {
  const scheme: Scheme = options.scheme ?? DEFAULTS.scheme;
  const preset = SCHEMES[scheme];
  if (!preset) throw new ConfigError(`scheme must be one of ${Object.keys(SCHEMES).join(', ')} (got ${String(scheme)})`);
  const config: TokenServiceConfig = {
    accessFormat: format(options.access?.format ?? preset.access, 'access.format'),
    refreshFormat: format(options.refresh?.format ?? preset.refresh, 'refresh.format'),
    accessTtlSeconds: seconds(options.access?.ttlSeconds, DEFAULTS.accessTtlSeconds, 'access.ttlSeconds', 1),
    refreshTtlSeconds: seconds(options.refresh?.ttlSeconds, DEFAULTS.refreshTtlSeconds, 'refresh.ttlSeconds', 1),
    reuseGraceSeconds: seconds(options.refresh?.reuseGraceSeconds, DEFAULTS.reuseGraceSeconds, 'refresh.reuseGraceSeconds', 0),
    absoluteLifetimeSeconds: seconds(
      options.refresh?.absoluteLifetimeSeconds,
      DEFAULTS.absoluteLifetimeSeconds,
      'refresh.absoluteLifetimeSeconds',
      1,
    ),
    checkRevocation: options.access?.checkRevocation ?? DEFAULTS.checkRevocation,
    revocationPush: options.access?.revocationPush ?? DEFAULTS.revocationPush,
    acceptLegacyRefreshKeys: options.refresh?.acceptLegacyKeys ?? DEFAULTS.acceptLegacyRefreshKeys,
    revocationCap: count(options.access?.revocationCap, DEFAULTS.revocationCap, 'access.revocationCap'),
    accessCacheSize: count(options.access?.cacheSize, DEFAULTS.accessCacheSize, 'access.cacheSize'),
    leewaySeconds: seconds(options.leewaySeconds, DEFAULTS.leewaySeconds, 'leewaySeconds', 0),
  };
  for (const name of ['checkRevocation', 'revocationPush'] as const) {
    if (typeof config[name] !== 'boolean') throw new ConfigError(`access.${name} must be true or false`);
  }
  if (typeof config.acceptLegacyRefreshKeys !== 'boolean')
    throw new ConfigError('refresh.acceptLegacyKeys must be true or false');
  checkReuseGrace(config.reuseGraceSeconds, config.refreshTtlSeconds, 'refresh.reuseGraceSeconds', 'refresh.ttlSeconds');
  return config;
}

/**
 * The grace window must close before the token it guards expires (otherwise a
 * consumed token would stay replayable for its whole life). Stated once: the
 * server's configuration calls it with its own setting names.
 */
export function checkReuseGrace(graceSeconds: number, refreshTtlSeconds: number, graceName: string, ttlName: string): void {
  if (graceSeconds >= refreshTtlSeconds) {
    throw new ConfigError(`${graceName} (${graceSeconds}) must be shorter than ${ttlName} (${refreshTtlSeconds})`);
  }
}
