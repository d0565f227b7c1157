import { defineConfig } from 'vitest/config';

// One run over every project: each package or app with a vitest.config.ts is a project.
export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts', 'apps/*/vitest.config.ts', 'tools/*/vitest.config.ts'],
    coverage: {
      provider: 'v8',
      include: ['packages/*/src/**/*.ts', 'apps/*/src/**/*.ts'],
      exclude: ['**/*.test.ts', '**/test/**'],
      reporter: ['text-summary', 'json-summary'],
      // Each library keeps a high floor; a drop is a review question (STYLE.md).
      thresholds: {
        'packages/core/src/**': { lines: 95, functions: 95, branches: 85, statements: 95 },
      },
    },
  },
});
