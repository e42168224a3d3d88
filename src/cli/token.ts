/**
 * `tessera token issue|verify`: offline token work with the key from
 * `TESSERA_SECRET` (or `TESSERA_KEYS`).
 *
 * @module
 */
import { ConfigError, isTokenError } from '../errors.js';
import { KEYGEN_HINT, type KeyRing, keyRingFromEnv, refreshKeyRing } from '../keys.js';
import { DEFAULTS } from '../refresh/config.js';
import type { Claims, TokenType } from '../tokens/claims.js';
import { createCodec, SELF_CONTAINED_FORMATS, type SelfContainedFormat } from '../tokens/codec.js';
import { EXIT_OK, EXIT_REFUSED, type Io, parse, readStdin, str, UsageError } from './args.js';

/**
 * Claims `--claims` may not set: the registered ones (RFC 7519 §4.1) and those tessera decides
 * on (`type`, the family, the client binding, the start of the session). `exp` or `iat` from
 * the command line would escape the `--ttl` cap and logout everywhere (an `iat` in the future
 * is after every "not before" epoch).
 */
const REGISTERED_CLAIMS: ReadonlySet<string> = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  'type',
  'fam',
  'auth_time',
  'ext',
  'client_id',
  'cnf',
]);

export const TOKEN_HELP = `Usage:
  tessera token issue --format jwt|sealed|fernet --type access|refresh --sub S [--ttl SECONDS] [--claims JSON]
  tessera token verify --format jwt|sealed|fernet [--type access|refresh] [TOKEN | -]

issue   prints a new token signed with the first key of TESSERA_KEYS or with TESSERA_SECRET.
        --ttl defaults to 900 seconds, and may not exceed the refresh lifetime
        (TESSERA_REFRESH_TTL, default ${DEFAULTS.refreshTtlSeconds}); --claims adds claims (a JSON object),
        but not ${[...REGISTERED_CLAIMS].join(', ')} (refused, exit 2).
        A jwt access token is typed at+jwt (RFC 9068) and carries iss/aud from TESSERA_ISSUER
        and TESSERA_AUDIENCE (default the issuer) when they are set, as the server requires.
        A refresh token is made with the key derived for refresh tokens (docs/keys.md).
verify  reads the token from the argument, or from stdin when it is "-" or absent.
        Valid: prints the claims as JSON, exits 0.
        Invalid: prints {"error": "<code>"}, exits 1. Codes: malformed, unsupported,
        bad_signature, unknown_key, expired, not_yet_valid, wrong_type, invalid_claims.

Environment: TESSERA_SECRET (base64url, >= 32 bytes) or TESSERA_KEYS (kid:secret,... ; a bare secret keeps its derived key id).`;

function format(value: string | undefined): SelfContainedFormat {
  if (value === undefined) throw new UsageError(`--format is required (${SELF_CONTAINED_FORMATS.join('|')})`);
  if (!(SELF_CONTAINED_FORMATS as readonly string[]).includes(value)) {
    throw new UsageError(`--format must be one of ${SELF_CONTAINED_FORMATS.join(', ')} (got "${value}")`);
  }
  return value as SelfContainedFormat;
}

function tokenType(value: string | undefined, required: boolean): TokenType | undefined {
  if (value === undefined) {
    if (required) throw new UsageError('--type is required (access|refresh)');
    return undefined;
  }
  if (value !== 'access' && value !== 'refresh') throw new UsageError(`--type must be access or refresh (got "${value}")`);
  return value;
}

/**
 * The longest `--ttl`: the configured refresh lifetime. Logout everywhere keeps the user's
 * epoch that long, so a longer-lived token could outlive what revokes it.
 */
function maxTtl(env: NodeJS.ProcessEnv): number {
  const v = env.TESSERA_REFRESH_TTL?.trim();
  return v !== undefined && /^\d+$/.test(v) && Number(v) > 0 ? Number(v) : DEFAULTS.refreshTtlSeconds;
}

function ringFromEnv(): KeyRing {
  const ring = keyRingFromEnv();
  if (!ring) throw new ConfigError(`TESSERA_SECRET is not set; ${KEYGEN_HINT}`);
  return ring;
}

export async function tokenCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'issue') {
    const { values } = parse(
      rest,
      {
        format: { type: 'string' },
        type: { type: 'string' },
        sub: { type: 'string' },
        ttl: { type: 'string' },
        claims: { type: 'string' },
      },
      false,
    );
    if (values.help) return (io.out(TOKEN_HELP), EXIT_OK);
    const fmt = format(str(values.format));
    const type = tokenType(str(values.type), true) as TokenType;
    const subject = str(values.sub);
    if (!subject) throw new UsageError('--sub is required');
    let ttlSeconds: number | undefined;
    const ttl = str(values.ttl);
    if (ttl !== undefined) {
      ttlSeconds = Number(ttl);
      if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0)
        throw new UsageError('--ttl must be a positive whole number of seconds');
      const max = maxTtl(process.env);
      if (ttlSeconds > max)
        throw new UsageError(
          `--ttl must not exceed the refresh lifetime (${max} s, TESSERA_REFRESH_TTL): logout everywhere could not end such a token`,
        );
    }
    let extra: Claims = {};
    const claimsJson = str(values.claims);
    if (claimsJson !== undefined) {
      try {
        extra = JSON.parse(claimsJson);
      } catch {
        throw new UsageError('--claims must be a JSON object');
      }
      if (typeof extra !== 'object' || extra === null || Array.isArray(extra))
        throw new UsageError('--claims must be a JSON object');
      const taken = Object.keys(extra).filter((k) => REGISTERED_CLAIMS.has(k));
      if (taken.length > 0) {
        throw new UsageError(
          `--claims may not set ${taken.join(', ')}: ${[...REGISTERED_CLAIMS].join(', ')} are tessera's (the lifetime is --ttl, the subject --sub, the type --type, the issuer TESSERA_ISSUER)`,
        );
      }
    }
    // A jwt access token as the server mints them (RFC 9068): typ at+jwt, and the server's
    // iss/aud when TESSERA_ISSUER (TESSERA_AUDIENCE) is set, so `tessera serve` accepts it.
    const access = fmt === 'jwt' && type === 'access';
    // Refresh tokens take the keys derived for them (keys.ts refreshKeyRing), as the server's do.
    const ring = type === 'refresh' ? refreshKeyRing(ringFromEnv()) : ringFromEnv();
    const codec = createCodec({ format: fmt, secret: ring, ttlSeconds, ...(access ? { typ: 'at+jwt' } : {}) });
    const registered: Claims = {};
    const issuer = process.env.TESSERA_ISSUER || undefined;
    if (access && issuer !== undefined) {
      registered.iss = issuer;
      registered.aud = process.env.TESSERA_AUDIENCE || issuer;
    }
    io.out(codec.encode({ ...registered, ...extra, sub: subject, type }));
    return EXIT_OK;
  }
  if (sub === 'verify') {
    const { values, positionals } = parse(rest, { format: { type: 'string' }, type: { type: 'string' } });
    if (values.help) return (io.out(TOKEN_HELP), EXIT_OK);
    const fmt = format(str(values.format));
    const type = tokenType(str(values.type), false);
    if (positionals.length > 1) throw new UsageError('token verify takes one token');
    const arg = positionals[0];
    const token = (arg === undefined || arg === '-' ? await readStdin() : arg).trim();
    const ring = ringFromEnv();
    // Access tokens verify with the configured keys, refresh tokens with the keys derived for
    // them (then, as the server still accepts them, with the configured keys); without --type,
    // either. The first verdict that is not "another key" is the answer.
    const rings = type === 'access' ? [ring] : type === 'refresh' ? [refreshKeyRing(ring), ring] : [ring, refreshKeyRing(ring)];
    let refusal: string | undefined;
    for (const r of rings) {
      try {
        io.out(JSON.stringify(createCodec({ format: fmt, secret: r }).decode(token, { type })));
        return EXIT_OK;
      } catch (e) {
        if (!isTokenError(e)) throw e;
        refusal ??= e.code;
        if (e.code !== 'bad_signature' && e.code !== 'unknown_key') {
          refusal = e.code;
          break;
        }
      }
    }
    // A token of the other type, made with the other keys, says so (as the server does).
    if (type !== undefined && (refusal === 'bad_signature' || refusal === 'unknown_key')) {
      const other = type === 'access' ? refreshKeyRing(ring) : ring;
      try {
        createCodec({ format: fmt, secret: other }).decode(token);
        refusal = 'wrong_type';
      } catch {
        // Not ours at all: the first verdict stands.
      }
    }
    io.out(`{"error": "${refusal}"}`);
    return EXIT_REFUSED;
  }
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') return (io.out(TOKEN_HELP), EXIT_OK);
  throw new UsageError(`unknown token command "${sub}"; see tessera token --help`);
}
