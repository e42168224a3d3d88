/** Three tessera processes on one PostgreSQL schema (TESSERA_STORE=postgres://...?schema=...): see instances.ts. */
import { dropSchema, PG_URL, postgresUnavailable, skipUnlessAvailable, uniqueSchema } from '../stores/harness.js';
import { instancesSuite } from './instances.js';

instancesSuite({
  title: 'one PostgreSQL',
  skip: skipUnlessAvailable(await postgresUnavailable()),
  store: async () => {
    const schema = uniqueSchema('inst');
    return { spec: `${PG_URL}?schema=${schema}`, prefix: 'inst:', cleanup: () => dropSchema(schema) };
  },
});
