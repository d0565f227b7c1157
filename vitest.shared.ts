import { defineProject, type UserWorkspaceConfig } from 'vitest/config';

/** Settings every project's vitest.config.ts starts from: in-repo imports resolve to `src`, not `dist`. */
export function droverProject(name: string, extra: UserWorkspaceConfig['test'] = {}) {
  return defineProject({
    resolve: { conditions: ['@drover/source'] },
    ssr: { resolve: { conditions: ['@drover/source'] } },
    test: {
      name,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: 30_000,
      hookTimeout: 60_000,
      ...extra,
    },
  });
}
