import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Bundle the CLI from the current sources so in-process and spawned tests run what users would run. */
export default function setup(): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  execFileSync(join(root, '..', '..', 'node_modules', '.bin', 'tsup'), ['--silent'], {
    cwd: root,
    stdio: 'inherit',
  });
}
