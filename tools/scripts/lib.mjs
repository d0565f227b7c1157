// Set-up shared by `npm run demo` and `npm test`: it needs nothing but Node and npm, installs pnpm and the
// workspace's dependencies, and (for tests, as root on Debian) the external tools the tests use as oracles.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

export const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
export const PNPM_VERSION = '10.34.9';
const MIN_NODE = [20, 19];

/** Command on PATH → Debian package that provides it. Keep in sync with the README. */
export const TEST_TOOLS = {
  veritysetup: 'cryptsetup-bin',
  'mkfs.erofs': 'erofs-utils',
  'fsck.erofs': 'erofs-utils',
  mksquashfs: 'squashfs-tools',
  mke2fs: 'e2fsprogs',
  sgdisk: 'gdisk',
  'docker-registry': 'docker-registry',
  skopeo: 'skopeo',
  umoci: 'umoci',
  openssl: 'openssl',
  zstd: 'zstd',
};

export function log(message) {
  process.stderr.write(`[setup] ${message}\n`);
}

export function fail(message, hint) {
  process.stderr.write(`[setup] error: ${message}\n${hint ? `[setup] hint: ${hint}\n` : ''}`);
  process.exit(1);
}

/** Run a command with inherited stdio; returns its exit status. */
export function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: ROOT, ...options });
  if (result.error) fail(`${command} could not start: ${result.error.message}`);
  return result.status ?? 1;
}

function output(command, args) {
  const r = spawnSync(command, args, { encoding: 'utf8', cwd: ROOT });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export function ensureNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1])) {
    fail(
      `Node ${process.version} is too old`,
      `drover needs Node >= ${MIN_NODE.join('.')}; install a newer Node.js`,
    );
  }
}

/** The pnpm to use: the one on PATH if it is the pinned version, else a private copy under .tools/ (no global install). */
export function ensurePnpm() {
  if (output('pnpm', ['--version']) === PNPM_VERSION) return 'pnpm';
  const prefix = join(ROOT, '.tools', 'pnpm');
  const bin = join(prefix, 'node_modules', '.bin', 'pnpm');
  if (!(existsSync(bin) && output(bin, ['--version']) === PNPM_VERSION)) {
    log(`installing pnpm ${PNPM_VERSION} with npm into .tools/pnpm`);
    const args = ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', '--loglevel=error'];
    const status = run('npm', [...args, `pnpm@${PNPM_VERSION}`]);
    if (status !== 0 || !existsSync(bin)) {
      fail('could not install pnpm from the npm registry', 'check network access to the npm registry');
    }
  }
  // nx and package scripts call `pnpm` by name: put the pinned copy first on PATH for every child process.
  process.env.PATH = `${dirname(bin)}${delimiter}${process.env.PATH ?? ''}`;
  return bin;
}

/** Install the workspace's dependencies exactly as locked. */
export function installDependencies(pnpm) {
  log('installing workspace dependencies (pnpm install --frozen-lockfile)');
  const status = run(pnpm, ['install', '--frozen-lockfile', '--reporter=append-only']);
  if (status !== 0)
    fail(
      'pnpm install failed',
      'if pnpm-lock.yaml is out of date, run `pnpm install` and commit the lockfile',
    );
}

function onPath(command) {
  const r = spawnSync(
    'sh',
    ['-c', `command -v ${command} || test -x /usr/sbin/${command} || test -x /sbin/${command}`],
    {
      stdio: 'ignore',
    },
  );
  return r.status === 0;
}

/** Install the Debian packages the tests use, when missing (as root with apt-get); otherwise say what to install. */
export function ensureTestTools() {
  const missing = [
    ...new Set(
      Object.entries(TEST_TOOLS)
        .filter(([cmd]) => !onPath(cmd))
        .map(([, pkg]) => pkg),
    ),
  ];
  if (missing.length === 0) return;
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !onPath('apt-get')) {
    fail(
      `the tests need these Debian packages: ${missing.join(' ')}`,
      `install them with: sudo apt-get install -y ${missing.join(' ')}`,
    );
  }
  log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (run('apt-get', ['update', '-qq'], { env }) !== 0) fail('apt-get update failed');
  if (run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env }) !== 0) {
    fail(`apt-get install ${missing.join(' ')} failed`);
  }
}

/** Environment for nx: no cloud, no daemon, no interactive UI. */
export function nxEnv() {
  return {
    ...process.env,
    NX_NO_CLOUD: 'true',
    NX_DAEMON: 'false',
    NX_TUI: 'false',
    NX_SKIP_NX_CACHE: process.env.NX_SKIP_NX_CACHE ?? '',
  };
}
