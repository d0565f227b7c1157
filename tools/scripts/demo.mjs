// `npm run demo`: set everything up, then run the main job on the embedded example with the built CLI:
// build examples/ab-verity → sign the image record → publish it to the local store → create a local fleet of
// 8 A/B nodes sized for the image → canary rollout with a health gate → summary.
// `npm run demo -- --failing-gate`: the fleet starts on that image, a second build goes out with
// examples/rollouts/local-gate-fails.yaml, its smoke-test gate fails and the canaries roll back by themselves.
// Re-running is fine: it resets .drover/fleet and the demo's rollout journals, and reuses the content-addressed
// store. Everything lives under .drover/ (delete it to start from scratch).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ensureNode, ensurePnpm, fail, installDependencies, log, nxEnv, ROOT, run } from './lib.mjs';

const args = process.argv.slice(2);
const failingGate = args.includes('--failing-gate');
const skipSetup = args.includes('--no-setup');
for (const a of args) {
  if (!['--failing-gate', '--no-setup'].includes(a)) {
    fail(`unknown option ${a}`, 'usage: npm run demo [-- --failing-gate] [--no-setup]');
  }
}

ensureNode();
if (!skipSetup) {
  const pnpm = ensurePnpm();
  installDependencies(pnpm);
  log('building the drover CLI');
  if (run(pnpm, ['nx', 'run', '@drover/cli:build', '--output-style=stream'], { env: nxEnv() }) !== 0)
    fail('build failed');
}

const BIN = join(ROOT, 'apps', 'cli', 'bin', 'run.js');
const STATE = '.drover';
const NODES = 8;
const RECIPE = 'examples/ab-verity/recipe.yaml';
const KEY = `${STATE}/keys/demo.pem`;
const POLICY = `${STATE}/policy.json`;
const FLEET = `${STATE}/fleet`;
const ROLLOUTS = `${STATE}/rollouts`;
// The demo uses the default locations under .drover/, whatever the caller's environment points at.
const env = { ...process.env };
for (const k of [
  'DROVER_STORE',
  'DROVER_FLEET',
  'DROVER_POLICY',
  'DROVER_ROLLOUT_FLEET',
  'DROVER_ROLLOUT_STATE',
])
  delete env[k];

function step(message) {
  process.stderr.write(`\n[demo] ${message}\n`);
}

/** Run `drover ARGS` from the repository root; progress and messages go to the terminal. */
function drover(argv, { json = false, allowFailure = false } = {}) {
  process.stderr.write(`[demo] $ drover ${argv.join(' ')}\n`);
  const r = spawnSync(process.execPath, [BIN, ...argv], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    stdio: ['ignore', json ? 'pipe' : 'inherit', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) fail(`drover could not start: ${r.error.message}`);
  if (r.status !== 0 && !allowFailure) fail(`drover ${argv[0]} ${argv[1] ?? ''} failed (exit ${r.status})`);
  return { status: r.status, out: json && r.stdout ? JSON.parse(r.stdout) : undefined };
}

function buildAvailable() {
  const r = spawnSync(process.execPath, [BIN, 'build', '--help'], { cwd: ROOT, env, encoding: 'utf8' });
  return r.status === 0 && /RECIPE/.test(r.stdout);
}

/** Build the example recipe with `drover build`; returns image.json's path (relative to the repository). */
function build(out, extra = []) {
  if (!buildAvailable()) {
    fail(
      'this CLI has no `drover build` command',
      'rebuild the CLI (npm run demo without --no-setup, or pnpm nx run @drover/cli:build)',
    );
  }
  const r = drover(['build', RECIPE, '--out', out, ...extra, '--json'], { json: true });
  const first = r.out?.builds?.[0];
  if (!first?.recordPath) fail('drover build --json printed no recordPath');
  return relative(ROOT, first.recordPath);
}

const started = Date.now();
mkdirSync(join(ROOT, STATE, 'keys'), { recursive: true });

step(`1/7 throwaway signing key ${KEY} and a policy trusting it (${POLICY})`);
drover(['keys', 'generate', KEY, '--force']);
writeFileSync(
  join(ROOT, POLICY),
  `${JSON.stringify({ version: 1, keys: [{ name: 'demo', path: 'keys/demo.pem.pub' }] }, null, 2)}\n`,
);

step(`2/7 build ${RECIPE}`);
const recordPath = build(`${STATE}/out/ab-node`);
const record = JSON.parse(readFileSync(join(ROOT, recordPath), 'utf8'));
process.stderr.write(
  `[demo] built ${record.name} ${record.version}, root hash ${record.verity?.rootHash ?? '(none)'}\n`,
);

step('3/7 sign the image record');
drover(['sign', recordPath, '--key', KEY]);

step('4/7 publish it to the local store (.drover/store), attaching the signature');
drover(['publish', recordPath, '--channel', failingGate ? 'stable' : 'canary']);

step(`5/7 a local fleet of ${NODES} A/B nodes in ${FLEET}, banks sized for the image`);
rmSync(join(ROOT, FLEET), { recursive: true, force: true });
drover([
  'fleet',
  'init',
  'local',
  '--nodes',
  String(NODES),
  '--fit',
  recordPath,
  ...(failingGate ? ['--channel', 'stable'] : []),
]);

let spec = 'examples/rollouts/local-canary.yaml';
let id = 'demo-canary';
let target = record;
if (failingGate) {
  step('5b/7 a second build (update_channel=canary), signed and published to the canary channel');
  const nextPath = build(`${STATE}/out/ab-node-next`, ['--set', 'update_channel=canary']);
  drover(['sign', nextPath, '--key', KEY]);
  drover(['publish', nextPath, '--channel', 'canary']);
  target = JSON.parse(readFileSync(join(ROOT, nextPath), 'utf8'));
  spec = 'examples/rollouts/local-gate-fails.yaml';
  id = 'demo-gate-fails';
}

step(`6/7 rollout: ${spec} (${id})`);
if (existsSync(join(ROOT, ROLLOUTS))) {
  for (const f of readdirSync(join(ROOT, ROLLOUTS))) {
    if (f.startsWith(`${id}.`)) rmSync(join(ROOT, ROLLOUTS, f), { force: true });
  }
}
const t0 = Date.now();
const rollout = drover(['rollout', 'start', spec, '--id', id], { allowFailure: failingGate });
const rolloutMs = Date.now() - t0;

step('7/7 the fleet now');
const status = drover(['rollout', 'status', id, '--json'], { json: true }).out;
const fleet = drover(['fleet', 'ls', '--json'], { json: true }).out;
drover(['fleet', 'ls']);
const onTarget = fleet.members.filter((m) => m.image?.digest === status.target.digest).length;
const seconds = (ms) => `${(ms / 1000).toFixed(1)}s`;
const lines = [
  '',
  `Main job${failingGate ? ' (failing gate)' : ''}: rollout ${id} ${status.status}${status.reason ? ` (${status.reason})` : ''}`,
  `  image      ${target.name} ${target.version} ${status.target.uri}`,
  `  root hash  ${target.verity?.rootHash ?? '(none)'}`,
  failingGate
    ? `  nodes      ${onTarget}/${NODES} on the new image; ${status.members.rolledBack} canaries rolled back to the previous image, the others were never touched`
    : `  nodes      ${onTarget}/${NODES} updated`,
  `  rollout    ${seconds(rolloutMs)} (whole pipeline ${seconds(Date.now() - started)})`,
  '',
];
process.stdout.write(lines.join('\n'));
if (failingGate) {
  // The demo shows the rollback: it succeeds when the rollout rolled back (drover exits 1 for a halted rollout).
  if (rollout.status !== 1 || status.status !== 'rolled-back' || onTarget !== 0)
    fail(`expected the rollout to halt and roll back; it ended ${status.status} (exit ${rollout.status})`);
} else if (onTarget !== NODES) {
  fail(`only ${onTarget} of ${NODES} nodes run the new image`);
}
