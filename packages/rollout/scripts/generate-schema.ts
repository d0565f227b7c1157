// Writes schema/rollout.schema.json from the validator's definitions (src/schema.ts). Run: pnpm --filter @drover/rollout schema
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolloutJsonSchema } from '../src/schema.js';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'schema', 'rollout.schema.json');
writeFileSync(out, `${JSON.stringify(rolloutJsonSchema(), null, 2)}\n`);
