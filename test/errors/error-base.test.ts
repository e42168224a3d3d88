/**
 * One error base: every error class of the library is a `TesseraError` with a stable
 * snake_case `code` (src/errors.ts), the public classes keep their names, codes and
 * `instanceof` relations, and an unavailable dependency names what is unavailable: a JWK Set
 * that cannot be fetched is a `JwksUnavailableError` (503 naming the JWK Set), never the token
 * store's `StoreUnavailableError`.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { UsageError } from '../../src/cli/args.js';
import {
  ConfigError,
  DependencyUnavailableError,
  InvalidScopeError,
  isDependencyUnavailable,
  isTesseraError,
  JwksUnavailableError,
  StoreUnavailableError,
  TesseraError,
  TokenError,
} from '../../src/errors.js';
import { HttpError, toHttpError } from '../../src/http/core/errors.js';
import { CookieClearingError } from '../../src/http/core/handlers.js';
import { errorHandler } from '../../src/http/express.js';
import { tesseraAuth } from '../../src/http/plugin.js';
import * as root from '../../src/index.js';
import { createClientService } from '../../src/oauth-clients/clients.js';
import { RedirectUriError } from '../../src/oauth-clients/redirect-uris.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { DpopError } from '../../src/tokens/dpop.js';
import { generateSigningJwk } from '../../src/tokens/jwk.js';
import { UserInputError } from '../../src/users/users.js';
import { createJwksVerifier } from '../../src/verify/jwks.js';
import { signWith } from '../support/asymmetric.js';

const SRC = new URL('../../src/', import.meta.url).pathname;

/** One instance of every error class of the library (src/client's AuthError apart: see below). */
const INSTANCES: Record<string, TesseraError> = {
  TokenError: new TokenError('expired'),
  ConfigError: new ConfigError('bad secret'),
  DependencyUnavailableError: new DependencyUnavailableError('store', 'down'),
  StoreUnavailableError: new StoreUnavailableError(),
  JwksUnavailableError: new JwksUnavailableError(),
  InvalidScopeError: new InvalidScopeError(),
  UserInputError: new UserInputError('username_taken', 'taken'),
  ClientInputError: new root.ClientInputError('bad', 'invalid_client_id'),
  RedirectUriError: new RedirectUriError('"x" is not an absolute URI'),
  HttpError: new HttpError(400, 'invalid_request', 'The request is invalid'),
  CookieClearingError: new CookieClearingError(new HttpError(400, 'invalid_grant', 'no'), []),
  UsageError: new UsageError('unknown flag'),
  DpopError: new DpopError('invalid_dpop_proof', 'DPoP proof refused: bad signature'),
};

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('TesseraError: the base of every error class', () => {
  test('every error class declared in src/ (but the standalone client) derives from TesseraError', () => {
    const parent = new Map<string, string>();
    const where = new Map<string, string>();
    for (const file of walk(SRC)) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\bclass (\w+) extends (\w+)/g)) {
        parent.set(m[1] as string, m[2] as string);
        where.set(m[1] as string, relative(SRC, file));
      }
    }
    const errorClasses = [...parent.keys()].filter((name) => name.endsWith('Error') && name !== 'TesseraError');
    assert.ok(errorClasses.length >= 11, `found ${errorClasses.join(', ')}`);
    for (const name of errorClasses) {
      // The browser client imports nothing from the rest (docs/architecture.md): its AuthError
      // carries the server's `error` code instead.
      if (where.get(name)?.startsWith('client/')) continue;
      let at = name;
      const seen = new Set<string>();
      while (at !== 'TesseraError' && parent.has(at) && !seen.has(at)) {
        seen.add(at);
        at = parent.get(at) as string;
      }
      assert.equal(at, 'TesseraError', `${name} (src/${where.get(name)}) does not derive from TesseraError`);
      assert.ok(name in INSTANCES, `${name} has no instance in this test`);
    }
  });

  for (const [name, e] of Object.entries(INSTANCES)) {
    test(`${name}: an Error and a TesseraError, its name, a snake_case code`, () => {
      assert.ok(e instanceof Error);
      assert.ok(e instanceof TesseraError);
      assert.ok(isTesseraError(e));
      assert.ok(isTesseraError(e, e.code));
      assert.equal(e.name, name);
      assert.match(e.code, /^[a-z]+(_[a-z]+)*$/);
    });
  }

  test('the public codes and discriminants are unchanged', () => {
    assert.equal(new TokenError('reused').code, 'reused');
    assert.equal(new ConfigError('x').code, 'invalid_config');
    assert.equal(new StoreUnavailableError().code, 'store_unavailable');
    assert.equal(new StoreUnavailableError().message, 'The token store is unavailable');
    assert.equal(new InvalidScopeError().code, 'invalid_scope');
    const http = new HttpError(401, 'invalid_token', 'The access token is invalid');
    assert.equal(http.error, 'invalid_token');
    assert.equal(http.code, 'invalid_token');
    const clearing = new CookieClearingError(http, []);
    assert.equal(clearing.error, http);
    assert.equal(clearing.code, 'invalid_token');
    assert.deepEqual(new StoreUnavailableError().toJSON(), {
      error: 'store_unavailable',
      message: 'The token store is unavailable',
    });
    assert.deepEqual(new TokenError('expired').toJSON(), { error: 'expired', message: 'The token expired' });
  });

  test('an outage is never a TokenError, and neither outage is the other', () => {
    const store = new StoreUnavailableError();
    const jwks = new JwksUnavailableError();
    for (const outage of [store, jwks]) {
      assert.ok(!(outage instanceof TokenError));
      assert.ok(outage instanceof DependencyUnavailableError);
      assert.ok(isDependencyUnavailable(outage));
    }
    assert.ok(!(jwks instanceof StoreUnavailableError));
    assert.equal(store.dependency, 'store');
    assert.equal(jwks.dependency, 'jwks');
    assert.equal(jwks.code, 'jwks_unavailable');
    assert.ok(!isDependencyUnavailable(new TokenError('revoked')));
    assert.ok(!(new InvalidScopeError() instanceof TokenError));
  });

  test('the root entry exports the base, the dependency outages and their checks', () => {
    assert.equal(root.TesseraError, TesseraError);
    assert.equal(root.DependencyUnavailableError, DependencyUnavailableError);
    assert.equal(root.JwksUnavailableError, JwksUnavailableError);
    assert.equal(root.isTesseraError, isTesseraError);
    assert.equal(root.isDependencyUnavailable, isDependencyUnavailable);
  });
});

describe('input errors carry codes', () => {
  test('ClientInputError: invalid id, reserved id, bad options, grant type, redirect URI or scope, an existing client', async () => {
    const clients = createClientService(new MemoryStore());
    const codeOf = async (p: Promise<unknown>) => {
      try {
        await p;
        return 'accepted';
      } catch (e) {
        assert.ok(e instanceof root.ClientInputError, String(e));
        return e.code;
      }
    };
    assert.equal(await codeOf(clients.add('has space')), 'invalid_client_id');
    assert.equal(await codeOf(clients.add('tessera')), 'reserved_client_id');
    assert.equal(await codeOf(clients.add('svc', { introspect: true })), 'invalid_client_options');
    assert.equal(await codeOf(clients.add('svc', { grantTypes: ['client_credentials'] })), 'invalid_client_options');
    assert.equal(await codeOf(clients.add('svc', { grantTypes: ['implicit'] })), 'invalid_grant_type');
    assert.equal(await codeOf(clients.add('svc', { redirectUris: ['http://svc.example/cb'] })), 'invalid_redirect_uri');
    assert.equal(await codeOf(clients.add('svc', { scope: 'a a' })), 'invalid_scope');
    assert.equal(await codeOf(clients.add('svc')), 'accepted');
    assert.equal(await codeOf(clients.add('svc')), 'client_exists');
  });
});

describe('an unavailable dependency names what is unavailable', () => {
  const ISS = 'https://auth.example';
  const AUD = 'https://api.example';
  const NOW = 1_750_000_000;
  const key = generateSigningJwk('EdDSA');
  const token = signWith(
    key,
    { alg: 'EdDSA', typ: 'at+jwt', kid: key.kid },
    { sub: 'alice', iss: ISS, aud: AUD, iat: NOW, exp: NOW + 900 },
  );
  const failingFetch = async () => ({ ok: false, status: 500, json: async () => ({}) });
  const verifier = () =>
    createJwksVerifier({ jwksUri: `${ISS}/jwks.json`, issuer: ISS, audience: AUD, clock: () => NOW * 1000, fetch: failingFetch });

  test('a JWK Set that cannot be fetched rejects with JwksUnavailableError, not StoreUnavailableError', async () => {
    const e = await verifier()
      .verify(token)
      .then(
        () => assert.fail('verified without a key set'),
        (err: unknown) => err,
      );
    assert.ok(e instanceof JwksUnavailableError, String(e));
    assert.ok(!(e instanceof StoreUnavailableError));
    assert.equal(e.code, 'jwks_unavailable');
    assert.doesNotMatch(e.message, /token store/);
  });

  test('toHttpError: 503 + Retry-After whose description names the dependency', () => {
    const jwks = toHttpError(new JwksUnavailableError());
    assert.equal(jwks.statusCode, 503);
    assert.equal(jwks.error, 'temporarily_unavailable');
    assert.equal(jwks.headers['retry-after'], '5');
    assert.match(jwks.description, /JWK Set/);
    assert.doesNotMatch(jwks.description, /store/);
    const store = toHttpError(new StoreUnavailableError());
    assert.equal(store.statusCode, 503);
    assert.equal(store.description, 'The token store is unavailable; retry later');
  });

  test('a resource server whose JWK Set is down answers 503 naming the JWK Set, never 401 or "token store"', async () => {
    const app = Fastify();
    try {
      await app.register(tesseraAuth, { verifier: verifier() });
      app.get('/private', async () => ({ ok: true }));
      const res = await app.inject({ url: '/private', headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.headers['retry-after'], '5');
      assert.deepEqual(res.json(), {
        error: 'temporarily_unavailable',
        error_description: 'The JWK Set of the token issuer is unavailable; retry later',
      });
    } finally {
      await app.close();
    }
  });

  test('the Express error handler logs an outage at warn naming the dependency, only a server fault at error', async () => {
    const lines: string[] = [];
    const log = {
      error: (_o: object, msg: string) => lines.push(`error ${msg}`),
      warn: (o: object, msg: string) => lines.push(`warn ${msg} ${(o as { code: string }).code}`),
      debug: (_o: object, msg: string) => lines.push(`debug ${msg}`),
    };
    const errors = [new StoreUnavailableError(), new JwksUnavailableError(), new TokenError('expired'), new Error('bug')];
    const app = express();
    app.get('/fail/:i', (req) => {
      throw errors[Number(req.params.i)];
    });
    app.use(errorHandler(log));
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const statuses: number[] = [];
      for (let i = 0; i < errors.length; i++) statuses.push((await fetch(`http://127.0.0.1:${port}/fail/${i}`)).status);
      assert.deepEqual(statuses, [503, 503, 401, 500]);
    } finally {
      server.close();
    }
    assert.deepEqual(lines, [
      'warn store unavailable store_unavailable',
      'warn jwks unavailable jwks_unavailable',
      'debug request refused',
      'error request failed',
    ]);
  });
});
