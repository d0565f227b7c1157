import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestImage, LocalFleet } from '@drover/provider-local';
import { runCommand } from '@oclif/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ROOT } from '../../../test/helpers.js';
import { EXIT_CODES } from '../../exit-codes.js';

// The rollout commands on a real local fleet (A/B GPT disks), with images signed and published the way the
// main job does it: keys generate → sign image.json → publish (attaches the bundle) → rollout start.

const EXAMPLES = join(CLI_ROOT, '..', '..', 'examples', 'rollouts');
let dir = '';
let key = '';
let policy = '';
let store = '';

const run = (args: string[]) => runCommand(args, { root: CLI_ROOT });

/** A small test image with its image.json; signed with the test key unless `sign` is false. */
async function image(version: string, sign = true): Promise<string> {
  const out = join(dir, 'img', version);
  const img = await createTestImage({ dir: out, name: 'ab-node', version, rootSize: 128 * 1024 });
  const record = join(out, 'image.json');
  await writeFile(record, `${JSON.stringify(img.record, null, 2)}\n`);
  if (sign) {
    const signed = await run(['sign', record, '--key', key, '--json']);
    expect(signed.error).toBeUndefined();
  }
  return record;
}

async function publish(record: string, channel: string): Promise<{ ref: { digest: string } }> {
  const r = await run(['publish', record, '--store', store, '--channel', channel, '--json']);
  expect(r.error).toBeUndefined();
  return JSON.parse(r.stdout);
}

/** An example spec with its bakes and intervals shrunk, and paths made absolute. */
async function spec(name: string): Promise<string> {
  const text = (await readFile(join(EXAMPLES, name), 'utf8'))
    .replace(/bake: \d+m?s/g, 'bake: 50ms')
    .replace(/interval: \d+m?s/g, 'interval: 20ms')
    .replace('examples/rollouts/smoke-check.mjs', join(EXAMPLES, 'smoke-check.mjs'));
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function fleet(name: string): Promise<string> {
  const fleetDir = join(dir, name);
  const init = await run([
    'fleet',
    'init',
    'local',
    '--nodes',
    '4',
    '--dir',
    fleetDir,
    '--store',
    store,
    '--channel',
    'stable',
    '--fit',
    'stable',
    '--json',
  ]);
  expect(init.error).toBeUndefined();
  expect(JSON.parse(init.stdout)).toMatchObject({ rootSize: 1024 * 1024, hashSize: 1024 * 1024 });
  return fleetDir;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-cli-local-rollout-'));
  key = join(dir, 'keys', 'demo.pem');
  store = join(dir, 'store');
  await mkdir(join(dir, 'keys'));
  expect((await run(['keys', 'generate', key, '--json'])).error).toBeUndefined();
  policy = join(dir, 'policy.json');
  await writeFile(
    policy,
    JSON.stringify({ version: 1, keys: [{ name: 'demo', path: 'keys/demo.pem.pub' }] }),
  );
  await publish(await image('1.0.0'), 'stable');
  await publish(await image('2.0.0'), 'canary');
}, 60_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('drover rollout on a local fleet (--fleet local:DIR)', () => {
  it('rolls the canary channel out to every node after verifying the signature, and reports image and root hash', async () => {
    const fleetDir = await fleet('fleet-ok');
    const state = join(dir, 'state-ok');
    const canary = await spec('local-canary.yaml');
    const plan = await run([
      'rollout',
      'plan',
      canary,
      '--fleet',
      `local:${fleetDir}`,
      '--policy',
      policy,
      '--json',
    ]);
    expect(plan.error).toBeUndefined();
    expect(JSON.parse(plan.stdout)).toMatchObject({ status: 'completed', members: { total: 4 } });

    const r = await run([
      'rollout',
      'start',
      canary,
      '--fleet',
      `local:${fleetDir}`,
      '--policy',
      policy,
      '--state',
      state,
      '--json',
    ]);
    expect(r.error).toBeUndefined();
    const out = JSON.parse(r.stdout);
    const record = JSON.parse(await readFile(join(dir, 'img', '2.0.0', 'image.json'), 'utf8'));
    expect(out).toMatchObject({
      status: 'completed',
      fleet: `local:${fleetDir}`,
      members: { total: 4, updated: 4, failed: 0 },
      image: { name: 'ab-node', version: '2.0.0', rootHash: record.verity.rootHash, from: 'channel canary' },
      signature: { verified: true, signer: { keyName: 'demo' } },
      previous: { version: '1.0.0' },
    });
    expect(out.stages.map((s: { members: number }) => s.members)).toEqual([1, 1, 2]);
    const members = await (await LocalFleet.open({ dir: fleetDir })).members();
    for (const m of members)
      expect(m).toMatchObject({ state: 'ready', image: { version: '2.0.0' }, labels: { bank: 'b' } });

    // status and resume find the same fleet from the state directory.
    const status = JSON.parse(
      (await run(['rollout', 'status', 'demo-canary', '--state', state, '--json'])).stdout,
    );
    expect(status).toMatchObject({ status: 'completed', members: { updated: 4 } });
    const rollback = await run(['rollout', 'rollback', 'demo-canary', '--state', state, '--json']);
    expect(rollback.error).toBeUndefined();
    expect(JSON.parse(rollback.stdout).run).toMatchObject({
      status: 'rolled-back',
      members: { rolledBack: 4 },
    });
    for (const m of await (await LocalFleet.open({ dir: fleetDir })).members())
      expect(m.image?.version).toBe('1.0.0');
  }, 120_000);

  it('the failing-gate example halts after the canaries and rolls them back by themselves', async () => {
    const fleetDir = await fleet('fleet-bad');
    const r = await run([
      'rollout',
      'start',
      await spec('local-gate-fails.yaml'),
      '--fleet',
      fleetDir,
      '--policy',
      policy,
      '--state',
      join(dir, 'state-bad'),
      '--json',
    ]);
    expect(r.error?.oclif?.exit ?? 1).toBe(EXIT_CODES.failed);
    const out = JSON.parse(r.stdout);
    expect(out.status).toBe('rolled-back');
    expect(out.reason).toMatch(/gate smoke failed: 5xx error rate 4\.8% is above 1\.0%/);
    expect(out.members).toMatchObject({ total: 4, rolledBack: 2, pending: 2, updated: 0 });
    expect(out.gates.map((g: { gate: string; phase: string }) => `${g.gate}:${g.phase}`)).toEqual([
      'healthy:successful',
      'smoke:failed',
    ]);
    const local = await LocalFleet.open({ dir: fleetDir });
    for (const m of await local.members())
      expect(m).toMatchObject({ state: 'ready', image: { version: '1.0.0' } });
    const states = await Promise.all((await local.members()).map((m) => local.nodeState(m.id)));
    // Two canaries went to bank B and back to bank A; the other two were never touched.
    expect(states.filter((s) => s.boots > 0)).toHaveLength(2);
  }, 120_000);

  it('refuses an unsigned image before touching a node (IMAGE_NOT_VERIFIED, cause IMAGE_UNSIGNED)', async () => {
    const fleetDir = await fleet('fleet-unsigned');
    const unsigned = await publish(await image('3.0.0', false), 'unsigned');
    const r = await run([
      'rollout',
      'start',
      await spec('local-canary.yaml'),
      '--image',
      `local:${unsigned.ref.digest}`,
      '--fleet',
      `local:${fleetDir}`,
      '--policy',
      policy,
      '--state',
      join(dir, 'state-unsigned'),
    ]);
    expect(r.error?.oclif?.exit).toBe(EXIT_CODES.denied);
    expect(r.stderr).toContain('[IMAGE_NOT_VERIFIED]');
    expect(r.stderr).toContain('[IMAGE_UNSIGNED]');
    expect(r.stderr).toMatch(/hint: Sign the record \(drover sign image\.json/);
    const local = await LocalFleet.open({ dir: fleetDir });
    for (const s of await Promise.all((await local.members()).map((m) => local.nodeState(m.id))))
      expect(s.boots).toBe(0);
    // The plan refuses it the same way.
    const plan = await run([
      'rollout',
      'plan',
      await spec('local-canary.yaml'),
      '--image',
      'unsigned',
      '--fleet',
      fleetDir,
      '--policy',
      policy,
    ]);
    expect(plan.stderr).toContain('[IMAGE_NOT_VERIFIED]');
  }, 60_000);

  it('refuses a record altered after it was signed (ARTIFACT_TAMPERED) and a missing policy (POLICY_MISSING)', async () => {
    const fleetDir = await fleet('fleet-tampered');
    const record = await image('4.0.0');
    const doc = JSON.parse(await readFile(record, 'utf8'));
    doc.description = 'changed after signing';
    await writeFile(record, JSON.stringify(doc, null, 2));
    await publish(record, 'tampered');
    const start = (extra: string[]) =>
      run([
        'rollout',
        'start',
        join(EXAMPLES, 'local-canary.yaml'),
        '--image',
        'tampered',
        '--fleet',
        `local:${fleetDir}`,
        '--state',
        join(dir, 'state-tampered'),
        ...extra,
      ]);
    const r = await start(['--policy', policy]);
    expect(r.error?.oclif?.exit).toBe(EXIT_CODES.denied);
    expect(r.stderr).toContain('[IMAGE_NOT_VERIFIED]');
    expect(r.stderr).toContain('[ARTIFACT_TAMPERED]');
    const none = await start(['--policy', join(dir, 'nowhere.json')]);
    expect(none.error?.oclif?.exit).toBe(EXIT_CODES.denied);
    expect(none.stderr).toContain('[POLICY_MISSING]');
    const local = await LocalFleet.open({ dir: fleetDir });
    for (const m of await local.members()) expect(m.image?.version).toBe('1.0.0');
  }, 60_000);

  it('a missing local fleet is not-found with a hint to create one or use a simulated fleet', async () => {
    const r = await run([
      'rollout',
      'plan',
      join(EXAMPLES, 'local-canary.yaml'),
      '--fleet',
      `local:${join(dir, 'none')}`,
    ]);
    expect(r.error?.oclif?.exit).toBe(EXIT_CODES['not-found']);
    expect(r.stderr).toContain('[FLEET_NOT_FOUND]');
    expect(r.stderr).toMatch(/hint: Create it with `drover fleet init local --nodes N`.*--fleet file:/);
  });
});
