// The cookie helpers (src/http/cookies.ts) use @fastify/cookie's request/reply
// augmentation, which an app gets by registering that plugin; the type tests
// compile src/ directly, so they load it here.
import type {} from '@fastify/cookie';
import type {} from '@fastify/swagger';
