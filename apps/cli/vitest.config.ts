import { droverProject } from '../../vitest.shared.js';

// oclif loads commands from the bundle named in package.json (dist/index.js), so the tests build it first.
// oclif prints through console.log; @oclif/test captures process.stdout, which vitest's console capture would bypass.
export default droverProject('cli', {
  globalSetup: ['./test/global-setup.ts'],
  testTimeout: 60_000,
  disableConsoleIntercept: true,
});
