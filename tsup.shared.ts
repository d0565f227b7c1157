import { defineConfig } from 'tsup';

/** How every @drover library builds: ESM for Node 20 with type declarations, from src/index.ts. */
export const libraryBuild = defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  target: 'node20',
  dts: true,
  clean: true,
  sourcemap: true,
});
