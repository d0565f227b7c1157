// Writes schema/recipe.schema.json from the validator's own zod definitions (`pnpm --filter @drover/recipe schema`).
// A test fails when the committed file is out of date.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recipeJsonSchema } from '../src/schema.js';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'schema', 'recipe.schema.json');
writeFileSync(out, `${JSON.stringify(recipeJsonSchema(), null, 2)}\n`);
console.log(`wrote ${out}`);
