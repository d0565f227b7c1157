import { defineConfig } from 'tsup';

// The CLI ships as one ESM bundle: the @drover/* libraries (from their sources) and third-party code are inlined,
// except @oclif/core, which loads help and plugins dynamically and stays a real dependency.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  bundle: true,
  splitting: false,
  dts: false,
  clean: true,
  sourcemap: true,
  external: ['@oclif/core'],
  noExternal: [/^(?!@oclif\/core)/],
  esbuildOptions(options) {
    options.conditions = ['@drover/source', 'import', 'node', 'default'];
  },
  banner: {
    // Bundled CommonJS dependencies call require(); give the ESM bundle one.
    js: "import { createRequire as __droverCreateRequire } from 'node:module'; const require = __droverCreateRequire(import.meta.url);",
  },
});
