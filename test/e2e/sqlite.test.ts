/** End to end on SQLite (a temp file), for each of the seed's presets. */
import { join } from 'node:path';
import { e2eFlow } from './flow.js';
import { baseEnv, tempDir } from './helpers.js';

for (const scheme of ['jwt', 'sealed', 'opaque']) {
  e2eFlow(`e2e ${scheme} on SQLite`, () =>
    baseEnv({ TESSERA_SCHEME: scheme, TESSERA_STORE: `sqlite:${join(tempDir(), 'tessera.db')}` }),
  );
}
