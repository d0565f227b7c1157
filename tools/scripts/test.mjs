// `npm test`: set everything up, then build, typecheck and lint every project and run every test once.
// The last line is the plain summary `N passed, N failed` that CI reads.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  ensureNode,
  ensurePnpm,
  ensureTestTools,
  fail,
  installDependencies,
  log,
  nxEnv,
  ROOT,
  run,
} from './lib.mjs';

ensureNode();
const pnpm = ensurePnpm();
installDependencies(pnpm);
ensureTestTools();

log('build, typecheck and lint every project (nx run-many)');
if (
  run(pnpm, ['nx', 'run-many', '-t', 'build', 'typecheck', 'lint', '--output-style=stream'], {
    env: nxEnv(),
  }) !== 0
) {
  fail(
    'build, typecheck or lint failed (see above)',
    'fix the first error shown; `pnpm nx run-many -t lint` alone reruns the lint',
  );
}

const reportDir = join(ROOT, '.reports');
const report = join(reportDir, 'vitest.json');
mkdirSync(reportDir, { recursive: true });
rmSync(report, { force: true });
log('running every test (vitest, all projects, with coverage)');
const status = run(pnpm, [
  'vitest',
  'run',
  '--coverage',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${report}`,
]);

if (!existsSync(report)) fail('vitest wrote no report', 'see the output above for why vitest did not run');
const results = JSON.parse(readFileSync(report, 'utf8'));
const passed = results.numPassedTests ?? 0;
// Failed tests, plus test files that failed without a failing test (they did not load or a hook threw).
const brokenFiles = (results.testResults ?? []).filter(
  (file) => file.status === 'failed' && !(file.assertionResults ?? []).some((a) => a.status === 'failed'),
).length;
const failed = (results.numFailedTests ?? 0) + brokenFiles;
if (results.numTotalTests === 0) {
  process.stdout.write('no tests ran\n0 passed, 1 failed\n');
  process.exit(1);
}
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(status !== 0 || failed > 0 ? 1 : 0);
