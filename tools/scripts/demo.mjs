// `npm run demo`: set everything up and run the main job on the embedded example.
import { ensureNode, ensurePnpm, fail, installDependencies, log, nxEnv, ROOT, run } from './lib.mjs';

ensureNode();
const pnpm = ensurePnpm();
installDependencies(pnpm);
log('building the drover CLI');
if (run(pnpm, ['nx', 'run', '@drover/cli:build', '--output-style=stream'], { env: nxEnv() }) !== 0)
  fail('build failed');
process.exitCode = run(process.execPath, [`${ROOT}/apps/cli/bin/run.js`, 'doctor']);
