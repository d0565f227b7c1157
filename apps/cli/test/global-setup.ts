import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Newest modification time (ms) of any file under `dir`, skipping dependencies and build output. */
function newest(dir: string): number {
  let max = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    max = Math.max(max, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return max;
}

/**
 * Bundle the CLI from the current sources so in-process and spawned tests run what users would run. The bundle
 * is rebuilt only when a source is newer than it: a rebuild replaces `dist/` under any other test run using it.
 */
export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const repo = join(root, '..', '..');
  let built = 0;
  try {
    built = statSync(join(root, 'dist', 'index.js')).mtimeMs;
  } catch {
    built = 0;
  }
  const sources = Math.max(
    newest(join(root, 'src')),
    newest(join(repo, 'packages')),
    statSync(join(root, 'package.json')).mtimeMs,
    statSync(join(repo, 'tsup.shared.ts')).mtimeMs,
    statSync(join(repo, 'pnpm-lock.yaml')).mtimeMs,
  );
  if (built > sources) return;
  execFileSync(join(repo, 'node_modules', '.bin', 'tsup'), ['--silent'], { cwd: root, stdio: 'inherit' });
}
