import { join } from 'node:path';
import { runCommand } from '@oclif/test';
import { describe, expect, it } from 'vitest';
import { CLI_ROOT, spawnCli } from '../../../test/helpers.js';

const EXAMPLES = join(CLI_ROOT, '..', '..', 'examples', 'rollouts');

describe('drover rollout plan', () => {
  it('--json prints the simulated plan: steps, duration within the lower bound, worst-case unavailability', async () => {
    const { stdout, error } = await runCommand(
      [
        'rollout',
        'plan',
        join(EXAMPLES, 'canary.yaml'),
        '--fleet',
        join(EXAMPLES, 'fleet.yaml'),
        '--start',
        '2026-11-23T00:00:00Z',
        '--json',
      ],
      { root: CLI_ROOT },
    );
    expect(error).toBeUndefined();
    const plan = JSON.parse(stdout);
    expect(plan.status).toBe('completed');
    expect(plan.members.total).toBe(24);
    expect(plan.stages.map((s: { members: number }) => s.members)).toEqual([1, 5, 6, 12]);
    expect(plan.predictedDurationMs).toBeGreaterThanOrEqual(plan.lowerBoundMs);
    expect(plan.predictedDurationMs).toBeLessThanOrEqual(plan.lowerBoundMs * 1.1);
    expect(plan.worstCaseUnavailable).toBeLessThanOrEqual(2);
    expect(plan.startAt).toBe('2026-11-23T00:00:00.000Z');
  });

  it('prints a readable timeline', async () => {
    const { stdout } = await runCommand(
      [
        'rollout',
        'plan',
        join(EXAMPLES, 'waves.yaml'),
        '--fleet',
        join(EXAMPLES, 'fleet.yaml'),
        '--start',
        '2026-11-23T12:00:00Z',
      ],
      {
        root: CLI_ROOT,
      },
    );
    expect(stdout).toMatch(/^plan for web-waves: completed$/m);
    expect(stdout).toMatch(/step 1 +wave 1 +1 member\(s\)/);
    expect(stdout).toMatch(/window-wait: until 2026-11-24T00:00:00.000Z/);
    expect(stdout).toMatch(/^predicted duration \S+ \(lower bound \S+\), finishing 2026-11-24T/m);
  });

  it('shows a failing gate rolling the fleet back', async () => {
    const { stdout } = await runCommand(
      [
        'rollout',
        'plan',
        join(EXAMPLES, 'gate-fails.yaml'),
        '--fleet',
        join(EXAMPLES, 'fleet-bad-canary.yaml'),
        '--json',
      ],
      {
        root: CLI_ROOT,
      },
    );
    const plan = JSON.parse(stdout);
    expect(plan.status).toBe('rolled-back');
    expect(plan.reason).toMatch(/gate error-rate failed/);
    expect(plan.members.rolledBack).toBe(2);
  });

  it('an invalid spec exits 65 with the position of the problem', () => {
    const r = spawnCli([
      'rollout',
      'plan',
      join(EXAMPLES, 'fleet.yaml'),
      '--fleet',
      join(EXAMPLES, 'fleet.yaml'),
    ]);
    expect(r.status).toBe(65);
    expect(r.stderr).toMatch(/invalid rollout spec .*fleet\.yaml:\d+:\d+: /);
    expect(r.stderr).toContain('[ROLLOUT_SPEC_INVALID]');
  });
});
