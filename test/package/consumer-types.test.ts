/**
 * The typings as a TypeScript user meets them: the packed tarball installed in
 * a fresh project (`"type": "module"`, `strict`, `module`/`moduleResolution`
 * `nodenext`, `skipLibCheck: false`) with the optional peers, and a file that
 * imports and uses every public entry point, type-checked by TypeScript 5.9
 * (this project's own compiler) and by the latest TypeScript release.
 *
 * The peers are installed at the versions this project tests against
 * (`--prefer-offline`: from the npm cache when it has them); the latest
 * TypeScript comes from the registry. Install scripts are skipped: type-checking
 * needs better-sqlite3's files, not its native build.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { installedVersion, packTessera, pkg, ROOT, run, workDir } from './pack.js';

const { dir: WORK, cleanup } = workDir('tessera-types-');
const APP = join(WORK, 'consumer');

/** Uses every entry point of package.json's `exports`; the `@ts-expect-error` lines prove the types are not `any`. */
const CONSUMER = `
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import {
  type ClientDirectory,
  ConfigError,
  createClientService,
  createCodec,
  createTokenService,
  generateSecret,
  InvalidScopeError,
  isClientDirectory,
  MemoryStore,
  openStore,
  type Principal,
  TokenError,
  type TokenErrorCode,
  type TokenPair,
  type TokenStore,
  type UserDirectory,
} from 'tessera-auth';
import { AuthError, createClient, type LogoutReason, type Session } from 'tessera-auth/client';
import { HttpError, parseBearer, tesseraAuth } from 'tessera-auth/fastify';
import { createUserService, DEFAULT_RATE_LIMIT, tesseraRoutes } from 'tessera-auth/fastify/routes';
import { requireScope as expressScope, tesseraExpress } from 'tessera-auth/express';
import { type TesseraEnv, tesseraHono } from 'tessera-auth/hono';
import { buildApp, parseConfig, REDACT_PATHS, type RunningServer, startServer } from 'tessera-auth/server';
import { MemoryStore as SubpathMemoryStore } from 'tessera-auth/stores/memory';
import { type BuiltInStore, registerStoreScheme, type StoreScheme } from 'tessera-auth/stores';
import { RedisStore, redisClientOptions } from 'tessera-auth/stores/redis';
import { openPostgresStore, POSTGRES_SCHEMA_VERSION, type PostgresStore } from 'tessera-auth/stores/postgres';
import { SQLITE_SCHEMA_VERSION, SqliteStore } from 'tessera-auth/stores/sqlite';
import pkgJson from 'tessera-auth/package.json' with { type: 'json' };

const secret = generateSecret();
const codec = createCodec({ format: 'jwt', secret });
const claims = codec.decode(codec.encode({ sub: 'alice', type: 'access' }), { type: 'access' });
const sub: string | undefined = claims.sub;
// @ts-expect-error: the format is a closed union
createCodec({ format: 'rs256', secret });

export async function library(): Promise<string> {
  const store: TokenStore = await openStore('sqlite:./tessera.db', { clock: Date.now, redis: { password: 'x' } });
  const tokens = createTokenService({ secret, store });
  const pair: TokenPair = await tokens.issue({ sub: 'alice', scope: 'api' });
  const principal: Principal = await tokens.authenticate(pair.accessToken);
  try {
    await tokens.refresh(pair.refreshToken, { clientId: 'web', scope: 'api' });
  } catch (e) {
    if (e instanceof TokenError) {
      const code: TokenErrorCode = e.code;
      return code;
    }
    if (e instanceof InvalidScopeError) return e.code;
    if (e instanceof ConfigError) throw e;
  }
  return principal.sub + String(sub);
}

export async function stores(): Promise<TokenStore[]> {
  const sqlite = new SqliteStore(':memory:', { clock: () => 0 });
  sqlite.db.pragma('journal_mode', { simple: true });
  const version: number = SQLITE_SCHEMA_VERSION;
  // @ts-expect-error: the schema version is a number
  const wrong: string = SQLITE_SCHEMA_VERSION;
  const redis = new RedisStore(new Redis(redisClientOptions({ lazyConnect: true })), { keyPrefix: 'app:' });
  const postgres: PostgresStore = await openPostgresStore('postgres://localhost/app?schema=auth', { poolSize: POSTGRES_SCHEMA_VERSION });
  return [sqlite, redis, postgres, new MemoryStore(), new SubpathMemoryStore({ clock: () => version }), ...(wrong ? [] : [])];
}

// A store of one's own, opened by URL: one row of the scheme registry (tessera-auth/stores).
export function registerToy(): () => void {
  const row: StoreScheme = { schemes: ['toy:'], syntax: 'toy:NAME', open: async (_spec, o) => new SubpathMemoryStore({ clock: o.clock }) };
  // @ts-expect-error: an opener returns a store with every directory
  registerStoreScheme({ schemes: ['bad:'], syntax: 'bad:', open: async () => 42 });
  const once: BuiltInStore['consumeOnce'] = async () => null;
  void once;
  return registerStoreScheme(row);
}

// The built-in stores keep users and clients too (UserDirectory, ClientDirectory).
export async function plugin(store: TokenStore & UserDirectory & ClientDirectory): Promise<void> {
  const tokens = createTokenService({ secret, store });
  const app = Fastify();
  await app.register(tesseraAuth, { tokens, realm: 'api' });
  app.get('/me', async (req) => {
    // @ts-expect-error: principal is null on public routes
    req.principal.sub;
    return req.principal?.sub ?? 'nobody';
  });
  app.get('/health', { config: { public: true } }, async () => 'ok');
  app.get('/admin', { config: { scope: 'admin' } }, async (req, reply) => {
    await app.authenticate(req, reply);
    return app.tokens === tokens;
  });
  const users = createUserService(store);
  const clients = createClientService(store, { defaultClientId: 'spa' });
  // @ts-expect-error: a bare TokenStore need not keep clients
  createClientService(store as TokenStore);
  if (!isClientDirectory(new MemoryStore())) throw new Error('the memory store keeps clients');
  const added = await clients.add('web', { confidential: true });
  // @ts-expect-error: a secret exists only for a confidential client, so it may be undefined
  const secretOfWeb: string = added.secret;
  await app.register(tesseraRoutes, {
    users,
    clients,
    issuer: 'https://auth.example.com',
    rateLimit: DEFAULT_RATE_LIMIT,
    prefix: '/auth',
  });
  if (secretOfWeb === '') throw new Error('unreachable');
  const bearer: string | null | false = parseBearer('Bearer abc');
  if (bearer === false) throw new HttpError(400, 'invalid_request', 'malformed');
}

export async function server(store: TokenStore): Promise<RunningServer> {
  const app = buildApp({ tokens: createTokenService({ secret, store }), docs: false, demo: false });
  await app.close();
  const paths: readonly string[] = REDACT_PATHS;
  const config = parseConfig({ TESSERA_SECRET: secret, TESSERA_STORE: 'memory' }, { port: '0' });
  return paths.length > 0 ? startServer(config) : Promise.reject(new Error(randomUUID()));
}

export function adapters(store: TokenStore): unknown[] {
  const tokens = createTokenService({ secret, store });
  const mw = tesseraExpress({ tokens, publicPaths: ['/'] });
  const guard = tesseraHono({ tokens });
  const env: TesseraEnv['Variables']['principal']['sub'] = 'alice';
  return [mw, expressScope('admin'), guard, env];
}

export async function client(): Promise<string> {
  const c = createClient({ baseUrl: 'https://auth.example.com' });
  c.on('logout', ({ reason }: { reason: LogoutReason }) => console.log(reason));
  const session: Session = await c.login('alice', 'password');
  const res: Response = await c.fetch('/me');
  c.close();
  return session.accessToken + res.status + String(AuthError.name) + pkgJson.version;
}
`;

const TSCONFIG = {
  compilerOptions: {
    strict: true,
    target: 'es2022',
    lib: ['es2023'],
    module: 'nodenext',
    moduleResolution: 'nodenext',
    types: ['node'],
    skipLibCheck: false,
    noEmit: true,
    resolveJsonModule: true,
    verbatimModuleSyntax: true,
  },
  files: ['index.ts'],
};

describe('the typings compile in a consumer project (skipLibCheck: false)', { timeout: 300_000 }, () => {
  before(async () => {
    const tarball = await packTessera(WORK);
    mkdirSync(APP, { recursive: true });
    const peers = Object.fromEntries(Object.keys(pkg.peerDependencies).map((name) => [name, installedVersion(name)]));
    writeFileSync(
      join(APP, 'package.json'),
      JSON.stringify({
        name: 'tessera-consumer',
        version: '1.0.0',
        private: true,
        type: 'module',
        dependencies: {
          'tessera-auth': `file:${tarball}`,
          ...peers,
          '@types/node': installedVersion('@types/node'),
          'typescript-latest': 'npm:typescript@latest',
        },
      }),
    );
    writeFileSync(join(APP, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    writeFileSync(join(APP, 'index.ts'), CONSUMER);
    const install = await run(
      'npm',
      ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'],
      APP,
      240_000,
    );
    assert.equal(install.code, 0, install.stderr);
  });
  after(cleanup);

  test('TypeScript 5.9 (this project\u2019s compiler)', async () => {
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    assert.match((await run(process.execPath, [tsc, '--version'], APP)).stdout, /^Version 5\.9\./);
    const r = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], APP);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test('the latest TypeScript release', async () => {
    const tsc = join(APP, 'node_modules/typescript-latest/bin/tsc');
    assert.ok(existsSync(tsc), 'typescript@latest not installed');
    const version = await run(process.execPath, [tsc, '--version'], APP);
    assert.equal(version.code, 0, version.stderr);
    const r = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], APP);
    assert.equal(r.code, 0, `${version.stdout}${r.stdout}${r.stderr}`);
  });
});
