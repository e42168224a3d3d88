/** End to end on SQLite (a temp file), for each of the seed's presets. */
import { join } from 'node:path';
import { serverEnv, tempDir } from '../support/processes.js';
import { e2eFlow } from './flow.js';
import { E2E } from './helpers.js';

for (const scheme of ['jwt', 'sealed', 'opaque']) {
  e2eFlow(`e2e ${scheme} on SQLite`, () =>
    serverEnv(E2E, { TESSERA_SCHEME: scheme, TESSERA_STORE: `sqlite:${join(tempDir(), 'tessera.db')}` }),
  );
}
