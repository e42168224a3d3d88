/** Three tessera processes on one (private) Redis: see instances.ts. */
import { instancesSuite } from './instances.js';
import { needsRedisServer, type RedisProcess, startRedis } from './support.js';

instancesSuite({
  title: 'one Redis',
  skip: needsRedisServer(),
  store: async () => {
    const redis: RedisProcess = await startRedis();
    return { spec: redis.url, prefix: 'inst:', cleanup: () => redis.kill() };
  },
});
