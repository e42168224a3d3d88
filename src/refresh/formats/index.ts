/**
 * The formats a {@link TokenServiceConfig} names, built once per service. The
 * only place that maps a format name to an implementation: a new format (or a
 * new codec for a self-contained one) is a new case here, not a branch in the
 * service.
 *
 * @module
 */
import { ConfigError } from '../../errors.js';
import { type KeyInput, type KeyRing, refreshKeyRing, toKeyRing } from '../../keys.js';
import type { TokenStateStore } from '../../stores/types.js';
import { createCodec, type SelfContainedFormat } from '../../tokens/codec.js';
import type { SigningKeySet } from '../../tokens/jwk.js';
import { ACCESS_TOKEN_TYP } from '../../tokens/jwt.js';
import type { TokenServiceConfig } from '../config.js';
import type { RevocationSet } from '../revocations.js';
import { opaqueAccessFormat, opaqueRefreshFormat } from './opaque.js';
import { selfContainedAccessFormat, selfContainedRefreshFormat } from './self-contained.js';
import type { AccessFormat, RefreshFormat } from './types.js';

export interface FormatContext {
  store: TokenStateStore;
  /** Key material of the self-contained formats (none needed when both are opaque). */
  keys?: KeyInput;
  issuer?: string;
  audience?: string | string[];
  clock: () => number;
  /** EdDSA/ES256/RS256 keys of `jwt` access tokens; refresh tokens never leave the issuer and keep the secret. */
  signingKeys?: SigningKeySet;
  /** The pushed revocations (absent when `access.revocationPush` is off). */
  revocations?: RevocationSet;
}

export function createFormats(config: TokenServiceConfig, ctx: FormatContext): { access: AccessFormat; refresh: RefreshFormat } {
  const { store, issuer } = ctx;
  let ring: KeyRing | undefined;
  const keyRing = (): KeyRing => {
    if (ctx.keys === undefined) {
      throw new ConfigError('createTokenService needs a secret for jwt, sealed and fernet tokens');
    }
    ring ??= toKeyRing(ctx.keys);
    return ring;
  };

  const access: AccessFormat =
    config.accessFormat === 'opaque'
      ? opaqueAccessFormat({ store, ttlSeconds: config.accessTtlSeconds })
      : selfContainedAccessFormat({
          codec: createCodec({
            format: config.accessFormat,
            secret: keyRing(),
            leewaySeconds: config.leewaySeconds,
            issuer,
            audience: ctx.audience,
            clock: ctx.clock,
            cacheSize: config.accessCacheSize,
            // RFC 9068 §2.1: JWT access tokens are typed `at+jwt` (HS256, EdDSA, ES256 and RS256 alike), and
            // verification requires it (§4); refresh tokens stay plain JWTs.
            ...(config.accessFormat === 'jwt' ? { typ: ACCESS_TOKEN_TYP } : {}),
            ...(ctx.signingKeys ? { signingKeys: ctx.signingKeys } : {}),
          }),
          store,
          issuer,
          audience: ctx.audience,
          ttlSeconds: config.accessTtlSeconds,
          checkRevocation: config.checkRevocation,
          ...(ctx.revocations ? { revocations: ctx.revocations } : {}),
          leewaySeconds: config.leewaySeconds,
        });

  const refreshCodec = (secret: KeyRing) =>
    createCodec({
      format: config.refreshFormat as SelfContainedFormat,
      secret,
      leewaySeconds: config.leewaySeconds,
      issuer,
      // Refresh tokens are for this service alone: the audience is an access-token matter.
      audience: undefined,
      clock: ctx.clock,
      // Refresh tokens are used once each: nothing to gain from remembering them.
      cacheSize: 0,
    });
  // Refresh tokens take keys derived for them alone (keys.ts refreshKeyRing: RFC 8725 §2.8,
  // §3.11), so no verifier of access tokens, holding the configured secret, accepts one. With
  // EdDSA/ES256/RS256 access tokens the refresh tokens are HS256 on the secret: derived the same way.
  const refresh: RefreshFormat =
    config.refreshFormat === 'opaque'
      ? opaqueRefreshFormat({ store })
      : selfContainedRefreshFormat({
          codec: refreshCodec(refreshKeyRing(keyRing())),
          ...(config.acceptLegacyRefreshKeys ? { legacyCodec: refreshCodec(keyRing()) } : {}),
          store,
          issuer,
        });

  return { access, refresh };
}
