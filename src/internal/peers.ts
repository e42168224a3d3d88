/**
 * The optional peer dependencies, each with the major version an install line
 * names: the newest major that the peer range of package.json accepts and that
 * runs on the oldest supported Node (better-sqlite3 13 wants Node 22, so 12).
 * Every "npm install ..." that tessera prints is built here, so a message and
 * the README's install lines name the same versions (test/package/peers.test.ts
 * checks both against package.json).
 *
 * @module
 */

export const PEER_MAJORS = {
  fastify: 5,
  'fastify-plugin': 6,
  '@fastify/cookie': 11,
  '@fastify/formbody': 9,
  '@fastify/swagger': 9,
  '@fastify/swagger-ui': 6,
  '@fastify/type-provider-typebox': 6,
  typebox: 1,
  '@zxcvbn-ts/language-common': 4,
  'better-sqlite3': 12,
  ioredis: 6,
  pg: 8,
  express: 5,
  '@types/express': 5,
  hono: 4,
  '@hono/node-server': 2,
  'prom-client': 15,
  '@opentelemetry/api': 1,
} as const;

export type Peer = keyof typeof PEER_MAJORS;

/** The peers `tessera serve`, `tessera user` and `tessera client` load (the reference server), driver of the default store included. */
export const SERVER_PEERS: readonly Peer[] = [
  'fastify',
  'fastify-plugin',
  '@fastify/cookie',
  '@fastify/formbody',
  '@fastify/swagger',
  '@fastify/swagger-ui',
  '@fastify/type-provider-typebox',
  'typebox',
  '@zxcvbn-ts/language-common',
  'better-sqlite3',
];

/** `npm install a@N b@M ...`: each peer with its pinned major. */
export function installLine(peers: readonly Peer[]): string {
  return `npm install ${peers.map((p) => `${p}@${PEER_MAJORS[p]}`).join(' ')}`;
}

/**
 * True when `e` is Node's failure to find `pkg` itself (ESM `ERR_MODULE_NOT_FOUND`
 * or CommonJS `MODULE_NOT_FOUND`), not a module that `pkg` failed to load.
 */
export function isMissingPackage(e: unknown, pkg: string): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && e instanceof Error && e.message.includes(`'${pkg}'`);
}
