import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '@oclif/test';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI_ROOT } from '../../../test/helpers.js';

const EXAMPLES = join(CLI_ROOT, '..', '..', 'examples', 'rollouts');
let state = '';
beforeEach(async () => {
  state = await mkdtemp(join(tmpdir(), 'drover-cli-rollout-'));
});
afterEach(() => rm(state, { recursive: true, force: true }));

const run = (args: string[]) => runCommand([...args, '--state', state], { root: CLI_ROOT });

describe('drover rollout start | status | approve | rollback (file-backed fleet)', () => {
  it('runs a canary to the approval pause, approves, completes, then rolls back to the recorded previous image', async () => {
    // The example canary with real-time bakes and gate intervals shrunk to milliseconds.
    const text = (await readFile(join(EXAMPLES, 'canary.yaml'), 'utf8'))
      .replace(/bake: \d+m/g, 'bake: 20ms')
      .replace(/interval: \d+[ms]/g, 'interval: 10ms');
    const spec = join(state, 'canary.yaml');
    await writeFile(spec, text);
    const started = await run(['rollout', 'start', spec, '--fleet', join(EXAMPLES, 'fleet.yaml'), '--json']);
    expect(started.error).toBeUndefined();
    const first = JSON.parse(started.stdout);
    expect(first.status).toBe('waiting-approval');
    expect(first.members.updated).toBe(12);

    const status = JSON.parse((await run(['rollout', 'status', 'web-canary', '--json'])).stdout);
    expect(status).toMatchObject({
      status: 'waiting-approval',
      awaitingApproval: 2,
      members: { updated: 12, total: 24 },
    });

    const approved = JSON.parse((await run(['rollout', 'approve', 'web-canary', '--json'])).stdout);
    expect(approved.recorded).toBe('approve');
    expect(approved.run.status).toBe('completed');
    expect(approved.run.actions).toBe(12);

    const back = JSON.parse((await run(['rollout', 'rollback', 'web-canary', '--json'])).stdout);
    expect(back.run.status).toBe('rolled-back');
    expect(back.run.members.rolledBack).toBe(24);
    expect(back.status.status).toBe('rolled-back');
  }, 120_000);

  it('a second start of the same id is refused, and so is pausing a finished rollout', async () => {
    const spec = join(state, 'rolling.yaml');
    await writeFile(
      spec,
      `apiVersion: drover.dev/v1\nkind: Rollout\nname: roll\nimage: local:sha256:${'b'.repeat(64)}\nstrategy: { type: rolling, maxUnavailable: 2 }\n`,
    );
    const fleet = join(state, 'fleet.yaml');
    await writeFile(fleet, 'fleet:\n  zones: [{ zone: a, members: 4 }]\n');
    expect(
      JSON.parse((await run(['rollout', 'start', spec, '--fleet', fleet, '--json'])).stdout).status,
    ).toBe('completed');
    const again = await run(['rollout', 'start', spec, '--fleet', fleet]);
    expect(again.error?.oclif?.exit).toBe(75);
    expect(again.stderr).toContain('[ROLLOUT_EXISTS]');
    const paused = await run(['rollout', 'pause', 'roll']);
    expect(paused.stderr).toContain('[ROLLOUT_FINISHED]');
    expect(paused.error?.oclif?.exit).toBe(75);
    expect(JSON.parse((await run(['rollout', 'status', 'roll', '--json'])).stdout).members.updated).toBe(4);
  }, 60_000);

  it('resume of a rollout waiting for approval changes nothing; abort stops it where it is', async () => {
    const text = (await readFile(join(EXAMPLES, 'canary.yaml'), 'utf8'))
      .replace(/bake: \d+m/g, 'bake: 20ms')
      .replace(/interval: \d+[ms]/g, 'interval: 10ms');
    const spec = join(state, 'canary.yaml');
    await writeFile(spec, text);
    await run(['rollout', 'start', spec, '--fleet', join(EXAMPLES, 'fleet.yaml'), '--json']);
    const resumed = JSON.parse((await run(['rollout', 'resume', 'web-canary', '--json'])).stdout);
    expect(resumed).toMatchObject({ status: 'waiting-approval', actions: 0 });
    const aborted = await run(['rollout', 'abort', 'web-canary', '--json']);
    expect(aborted.error?.oclif?.exit).toBeUndefined();
    const out = JSON.parse(aborted.stdout);
    expect(out.run.status).toBe('aborted');
    expect(out.status.halted).toMatchObject({ rollback: false });
    expect(out.status.members.updated).toBe(12);
  }, 60_000);

  it('status of an unknown rollout exits 66', async () => {
    const r = await run(['rollout', 'status', 'nope']);
    expect(r.error?.oclif?.exit).toBe(66);
    expect(r.stderr).toContain('[ROLLOUT_NOT_FOUND]');
  });
});
