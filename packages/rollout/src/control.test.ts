import { describe, expect, it } from 'vitest';
import { baseSpec, OLD, T0, zonedMembers } from '../test/harness.js';
import {
  controlRollout,
  MemoryStateStore,
  type RolloutSpec,
  resumeRollout,
  rolloutSpecOf,
  rolloutStatus,
  SimulatedFleet,
  simulatedGateRunner,
  startRollout,
  VirtualClock,
} from './index.js';

function setup(spec: RolloutSpec) {
  const clock = new VirtualClock(T0);
  const fleet = new SimulatedFleet({ clock, members: zonedMembers([[2, 2]]), updateMs: 60_000, faults: [] });
  const store = new MemoryStateStore(() => clock.now());
  const options = {
    id: 'r1',
    spec,
    fleet,
    store,
    clock,
    holder: 'me',
    gateRunner: simulatedGateRunner([]),
    controlPollMs: 1000,
  };
  return { store, options };
}

describe('controlRollout and rolloutStatus', () => {
  it('reports a rollout waiting for approval, approves it from the journal, and the resumed run completes', async () => {
    const spec = baseSpec({
      strategy: { type: 'canary', steps: [{ count: 1, gates: ['sign-off'] }] },
      gates: [{ name: 'sign-off', type: 'approval' }],
    });
    const { store, options } = setup(spec);
    await startRollout(options);
    const waiting = await rolloutStatus({ id: 'r1', store });
    expect(waiting).toMatchObject({
      id: 'r1',
      status: 'waiting-approval',
      awaitingApproval: 0,
      paused: false,
      previous: OLD,
      members: { total: 4, updated: 1, failed: 0, inFlight: 0 },
    });
    expect((await rolloutSpecOf({ id: 'r1', store })).strategy.type).toBe('canary');

    const approved = await controlRollout({ id: 'r1', store, action: 'approve', by: 'alice' });
    expect(approved.awaitingApproval).toBeUndefined();
    const entries = await store.read('r1');
    expect(entries.at(-1)).toMatchObject({ type: 'control', action: 'approve', stage: 0, by: 'alice' });

    const done = await resumeRollout(options);
    expect(done.status).toBe('completed');
    const after = await rolloutStatus({ id: 'r1', store });
    expect(after).toMatchObject({ status: 'completed', members: { updated: 4 } });
  });

  it('refuses to approve when nothing waits, and to pause or abort a finished rollout', async () => {
    const { store, options } = setup(baseSpec({ strategy: { type: 'rolling', maxUnavailable: 1 } }));
    await startRollout(options);
    await expect(controlRollout({ id: 'r1', store, action: 'approve' })).rejects.toMatchObject({
      code: 'NOTHING_TO_APPROVE',
      kind: 'conflict',
    });
    await expect(controlRollout({ id: 'r1', store, action: 'pause' })).rejects.toMatchObject({
      code: 'ROLLOUT_FINISHED',
      hint: expect.stringMatching(/rollback/),
    });
    // A rollback of a completed rollout is recorded for the controller to act on.
    const rb = await controlRollout({ id: 'r1', store, action: 'rollback', by: 'carol', now: T0 + 1 });
    expect(rb.status).toBe('running');
    expect((await store.read('r1')).at(-1)).toMatchObject({ action: 'rollback', by: 'carol', at: T0 + 1 });
  });

  it('an unknown rollout is ROLLOUT_NOT_FOUND', async () => {
    const store = new MemoryStateStore(() => T0);
    await expect(rolloutStatus({ id: 'nope', store })).rejects.toMatchObject({ code: 'ROLLOUT_NOT_FOUND' });
    await expect(rolloutSpecOf({ id: 'nope', store })).rejects.toMatchObject({ code: 'ROLLOUT_NOT_FOUND' });
  });
});
