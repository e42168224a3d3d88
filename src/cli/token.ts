/**
 * `tessera token issue|verify`: offline token work with the key from
 * `TESSERA_SECRET` (or `TESSERA_KEYS`).
 *
 * @module
 */
import { ConfigError, isTokenError } from '../errors.js';
import { KEYGEN_HINT, type KeyRing, keyRingFromEnv } from '../keys.js';
import { DEFAULTS } from '../refresh/config.js';
import type { Claims, TokenType } from '../tokens/claims.js';
import { createCodec, SELF_CONTAINED_FORMATS, type SelfContainedFormat } from '../tokens/codec.js';
import { EXIT_OK, EXIT_REFUSED, type Io, parse, readStdin, str, UsageError } from './args.js';

export const TOKEN_HELP = `Usage:
  tessera token issue --format jwt|sealed|fernet --type access|refresh --sub S [--ttl SECONDS] [--claims JSON]
  tessera token verify --format jwt|sealed|fernet [--type access|refresh] [TOKEN | -]

issue   prints a new token signed with the first key of TESSERA_KEYS or with TESSERA_SECRET.
        --ttl defaults to 900 seconds, and may not exceed the refresh lifetime
        (TESSERA_REFRESH_TTL, default ${DEFAULTS.refreshTtlSeconds}); --claims adds claims (a JSON object).
        A jwt access token is typed at+jwt (RFC 9068) and carries iss/aud from TESSERA_ISSUER
        and TESSERA_AUDIENCE (default the issuer) when they are set, as the server requires.
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
 * epoch that long, so a longer-lived token could outlive what revokes it (issue 12, finding 7).
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
    }
    // A jwt access token as the server mints them (RFC 9068): typ at+jwt, and the server's
    // iss/aud when TESSERA_ISSUER (TESSERA_AUDIENCE) is set, so `tessera serve` accepts it.
    const access = fmt === 'jwt' && type === 'access';
    const codec = createCodec({ format: fmt, secret: ringFromEnv(), ttlSeconds, ...(access ? { typ: 'at+jwt' } : {}) });
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
    const codec = createCodec({ format: fmt, secret: ringFromEnv() });
    try {
      io.out(JSON.stringify(codec.decode(token, { type })));
      return EXIT_OK;
    } catch (e) {
      if (!isTokenError(e)) throw e;
      io.out(`{"error": "${e.code}"}`);
      return EXIT_REFUSED;
    }
  }
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') return (io.out(TOKEN_HELP), EXIT_OK);
  throw new UsageError(`unknown token command "${sub}"; see tessera token --help`);
}
