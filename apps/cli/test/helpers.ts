import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** apps/cli, the root oclif loads the CLI from. */
export const CLI_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface SpawnResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run the built binary as a user would: `node apps/cli/bin/run.js ...args`. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): SpawnResult {
  const base = { ...process.env };
  // nx sets FORCE_COLOR; with NO_COLOR also set, Node prints a warning on stderr.
  delete base.FORCE_COLOR;
  const result = spawnSync(process.execPath, [join(CLI_ROOT, 'bin', 'run.js'), ...args], {
    encoding: 'utf8',
    env: { ...base, NO_COLOR: '1', DEBUG: '', ...env },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
