import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DroverError, type ImageRef } from '@drover/core';
import { describe, expect, it } from 'vitest';
import { baseSpec, NEW, OLD, runScenario, T0, zonedMembers } from '../test/harness.js';
import {
  FileStateStore,
  foldJournal,
  MemoryStateStore,
  planRollout,
  preflightRollout,
  RealClock,
  type RolloutSpec,
  resumeRollout,
  type SimFault,
  SimulatedFleet,
  simulatedGateRunner,
  startRollout,
  VirtualClock,
} from './index.js';

const GATES: RolloutSpec['gates'] = [
  { name: 'healthy', type: 'health', count: 2, interval: '1m' },
  { name: 'metric', type: 'prometheus', url: 'http://prometheus:9090', query: 'errors', max: 0.01 },
  { name: 'sign-off', type: 'approval' },
];

function setup(spec: RolloutSpec, layout: number[][] = [[4, 4]], faults: SimFault[] = []) {
  const clock = new VirtualClock(T0);
  const fleet = new SimulatedFleet({ clock, members: zonedMembers(layout), updateMs: 60_000, faults });
  const store = new MemoryStateStore(() => clock.now());
  const options = {
    id: 'r1',
    spec,
    fleet,
    store,
    clock,
    holder: 'me',
    gateRunner: simulatedGateRunner(faults),
    controlPollMs: 1000,
  };
  return { clock, fleet, store, options };
}

async function images(fleet: SimulatedFleet): Promise<string[]> {
  return [...new Set((await fleet.members()).map((m) => m.image?.version ?? m.image?.digest ?? ''))];
}

describe('rollout engine', () => {
  it('canary with a health gate updates everyone, stage by stage', async () => {
    const spec = baseSpec({
      strategy: { type: 'canary', steps: [{ count: 1, bake: '5m', gates: ['healthy'] }, { percent: 50 }] },
      gates: GATES,
    });
    const { fleet, options } = setup(spec);
    const r = await startRollout(options);
    expect(r.status).toBe('completed');
    expect(r.members).toMatchObject({ total: 8, updated: 8, failed: 0 });
    expect(await images(fleet)).toEqual(['2.0.0']);
    expect(r.stages.map((s) => s.members)).toEqual([1, 3, 4]);
    expect(r.gates[0]).toMatchObject({ gate: 'healthy', phase: 'successful' });
    expect(r.maxUnavailableObserved).toBe(1);
  });

  it('a failing gate halts the rollout fleet-wide and rolls updated members back to the recorded previous image', async () => {
    const spec = baseSpec({
      strategy: { type: 'canary', steps: [{ count: 2, gates: ['metric'] }, { percent: 50 }] },
      gates: GATES,
    });
    const { fleet, options, store } = setup(
      spec,
      [[4, 4]],
      [{ type: 'gate', gate: 'metric', result: 'failed' }],
    );
    const r = await startRollout(options);
    expect(r.status).toBe('rolled-back');
    expect(r.reason).toMatch(/gate metric failed/);
    expect(r.previous).toEqual(OLD);
    expect(await images(fleet)).toEqual(['1.0.0']);
    expect(r.members.rolledBack).toBe(2);
    // Only the canary members were ever touched.
    expect([...fleet.updates.keys()].filter((k) => k.endsWith(NEW.digest))).toHaveLength(2);
    expect(foldJournal(store.peek('r1')).halt).toMatchObject({ rollback: true });
  });

  it('onFailure.rollback: false leaves updated members on the new image and stops', async () => {
    const spec = baseSpec({
      strategy: { type: 'canary', steps: [{ count: 2, gates: ['metric'] }] },
      gates: GATES,
      onFailure: { rollback: false },
    });
    const { fleet, options } = setup(spec, [[4, 4]], [{ type: 'gate', gate: 'metric', result: 'error' }]);
    const r = await startRollout(options);
    expect(r.status).toBe('aborted');
    expect((await fleet.members()).filter((m) => m.image?.digest === NEW.digest)).toHaveLength(2);
  });

  it('an inconclusive gate pauses; resume re-runs the analysis', async () => {
    const spec = baseSpec({
      strategy: { type: 'canary', steps: [{ count: 1, gates: ['metric'] }] },
      gates: GATES,
    });
    const { options } = setup(
      spec,
      [[2, 2]],
      [{ type: 'gate', gate: 'metric', stage: 0, result: 'inconclusive' }],
    );
    const r = await startRollout(options);
    expect(r.status).toBe('paused');
    expect(r.reason).toMatch(/inconclusive/);
    const again = await resumeRollout({ ...options, gateRunner: simulatedGateRunner([]) });
    expect(again.status).toBe('completed');
    expect(again.members.updated).toBe(4);
  });

  it('manual approval stops the run until approve, and resume continues without re-updating anyone', async () => {
    const spec = baseSpec({
      strategy: { type: 'canary', steps: [{ count: 1, gates: ['sign-off'] }] },
      gates: GATES,
    });
    const { fleet, options, store } = setup(spec);
    const r = await startRollout(options);
    expect(r.status).toBe('waiting-approval');
    expect(r.members.updated).toBe(1);
    await store.append('r1', { type: 'control', action: 'approve', stage: 0, by: 'alice' });
    const done = await resumeRollout(options);
    expect(done.status).toBe('completed');
    expect(done.actions).toBe(7);
    expect(fleet.violations).toEqual([]);
  });

  it('pause and abort written by another process are honoured; rollback after completion goes back to the previous image', async () => {
    const spec = baseSpec({ strategy: { type: 'rolling', maxUnavailable: 1 } });
    const { fleet, options, store, clock } = setup(spec);
    const run = startRollout(options);
    clock.schedule(
      T0 + 150_000,
      () => void store.append('r1', { type: 'control', action: 'pause', by: 'bob' }),
    );
    const paused = await run;
    expect(paused.status).toBe('paused');
    expect(paused.members.updated).toBe(3);
    const resumed = await resumeRollout(options);
    expect(resumed.status).toBe('completed');
    await store.append('r1', { type: 'control', action: 'rollback', by: 'carol' });
    const back = await resumeRollout(options);
    expect(back.status).toBe('rolled-back');
    expect(await images(fleet)).toEqual(['1.0.0']);
  });

  it('a member that fails to boot the new image halts the rollout (failureThreshold 0)', async () => {
    const run = await runScenario({
      spec: baseSpec({ strategy: { type: 'rolling', maxUnavailable: 2 } }),
      members: zonedMembers([[6]]),
      faults: [{ type: 'fail-boot', members: ['r0-z0-2'] }],
    });
    expect(run.result.status).toBe('rolled-back');
    expect(run.result.members.failed).toBe(1);
    expect(await images(run.fleet)).toEqual(['1.0.0']);
  });

  it('respects maintenance windows: nothing starts outside them', async () => {
    const spec = baseSpec({
      strategy: { type: 'rolling', maxUnavailable: 1 },
      windows: [{ cron: '0 3 * * *', duration: '1h' }],
    });
    const run = await runScenario({ spec, members: zonedMembers([[3]]) });
    expect(run.result.status).toBe('completed');
    for (const d of run.fleet.disruptions) expect(new Date(d.at).getUTCHours()).toBe(3);
    expect(run.result.timeline.some((e) => e.type === 'window-wait')).toBe(true);
  });

  it('a second controller cannot drive the same rollout while the lease is held', async () => {
    const spec = baseSpec({ strategy: { type: 'rolling' } });
    const { options, store } = setup(spec);
    await store.acquire('r1', 'someone-else', 60_000);
    await expect(startRollout(options)).rejects.toMatchObject({ code: 'LOCK_HELD', kind: 'conflict' });
  });

  it('refuses to start twice and to resume what does not exist', async () => {
    const spec = baseSpec({ strategy: { type: 'rolling' } });
    const { options } = setup(spec);
    await expect(resumeRollout(options)).rejects.toMatchObject({ code: 'ROLLOUT_NOT_FOUND' });
    await startRollout(options);
    await expect(startRollout(options)).rejects.toMatchObject({ code: 'ROLLOUT_EXISTS' });
  });

  it('drives a fleet with the file store on the real clock, journalling intent before each call', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-engine-'));
    try {
      const clock = new VirtualClock(T0);
      const fleet = new SimulatedFleet({ clock, members: zonedMembers([[3]]), updateMs: 1000 });
      const store = new FileStateStore(dir);
      const r = await startRollout({
        id: 'file',
        spec: baseSpec({ strategy: { type: 'rolling', maxUnavailable: 2 } }),
        fleet,
        store,
        clock,
        controlPollMs: Number.POSITIVE_INFINITY,
      });
      expect(r.status).toBe('completed');
      const journal = await store.read('file');
      for (const id of ['r0-z0-0', 'r0-z0-1', 'r0-z0-2']) {
        const intent = journal.findIndex((e) => e.type === 'intent' && e.member === id);
        const outcome = journal.findIndex((e) => e.type === 'outcome' && e.member === id);
        expect(intent).toBeGreaterThan(0);
        expect(outcome).toBeGreaterThan(intent);
      }
      expect(journal.at(-1)).toMatchObject({ type: 'status', status: 'completed' });
      expect(new RealClock().now()).toBeGreaterThan(T0 - 10 ** 12);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('preflightRollout', () => {
  const clock = new VirtualClock(T0);
  const fleet = new SimulatedFleet({
    clock,
    members: zonedMembers([[5]]),
    updateMs: 1000,
    supports: { replace: false },
  });

  it('reports a budget that allows no disruption (percent rounds down)', async () => {
    const p = await preflightRollout({
      spec: baseSpec({ strategy: { type: 'rolling' }, budgets: [{ maxUnavailable: '10%' }] }),
      fleet,
      members: await fleet.members(),
    });
    expect(p.map((x) => x.code)).toEqual(['BUDGET_NO_DISRUPTION']);
    const q = await preflightRollout({
      spec: baseSpec({ strategy: { type: 'rolling', maxUnavailable: '10%' } }),
      fleet,
      members: await fleet.members(),
    });
    expect(q[0]?.message).toMatch(/rounds down to 0/);
  });

  it('reports surge without capacity, a gate that cannot run, and an image that does not verify', async () => {
    const spec = baseSpec({
      action: 'replace',
      strategy: { type: 'rolling', maxUnavailable: 1, maxSurge: 1 },
      gates: [{ name: 'smoke', type: 'command', command: ['/nonexistent/smoke-test'] }],
    });
    const p = await preflightRollout({
      spec,
      fleet,
      members: await fleet.members(),
      verifyImage: async () => {
        throw new Error('no signature');
      },
    });
    expect(p.map((x) => x.code).sort()).toEqual([
      'FLEET_CANNOT_REPLACE',
      'GATE_CANNOT_EVALUATE',
      'IMAGE_NOT_VERIFIED',
      'SURGE_NO_CAPACITY',
    ]);
  });

  it('makes startRollout fail before anything changes', async () => {
    const {
      options,
      fleet: f,
      store,
    } = setup(baseSpec({ strategy: { type: 'rolling' }, budgets: [{ maxUnavailable: 0 }] }));
    await expect(startRollout(options)).rejects.toMatchObject({ code: 'ROLLOUT_PREFLIGHT_FAILED' });
    expect(f.disruptions).toEqual([]);
    expect(store.peek('r1')).toEqual([]);
  });

  it('refuses an image that does not verify with IMAGE_NOT_VERIFIED (denied), keeping the cause code and hint', async () => {
    const { options, fleet: f, store } = setup(baseSpec({ strategy: { type: 'rolling' } }));
    const verifyImage = async () => {
      throw new DroverError('IMAGE_UNSIGNED', 'no signature is attached', { hint: 'Sign it first.' });
    };
    await expect(startRollout({ ...options, verifyImage })).rejects.toMatchObject({
      code: 'IMAGE_NOT_VERIFIED',
      kind: 'denied',
      hint: 'Sign it first.',
      message: expect.stringMatching(/no signature is attached \[IMAGE_UNSIGNED\]/),
      details: { cause: 'IMAGE_UNSIGNED' },
    });
    expect(f.disruptions).toEqual([]);
    expect(store.peek('r1')).toEqual([]);
  });
});

describe('replacement strategies', () => {
  it('blue-green brings up the whole new set on surge capacity without making anyone unavailable', async () => {
    const spec = baseSpec({
      action: 'replace',
      strategy: { type: 'blue-green', rollbackWindow: '30m', gates: ['healthy'] },
      gates: GATES,
    });
    const plan = await planRollout({
      spec,
      fleet: {
        image: OLD,
        updateTime: '5m',
        zones: [{ zone: 'a', members: 6 }],
        constraints: { surgeCapacity: 6 },
      },
      startAt: T0,
    });
    expect(plan.status).toBe('completed');
    expect(plan.worstCaseUnavailable).toBe(0);
    expect(plan.predictedDurationMs).toBe(5 * 60_000 + 30 * 60_000 + 60_000);
    await expect(
      planRollout({ spec, fleet: { image: OLD, zones: [{ zone: 'a', members: 6 }] } }),
    ).rejects.toMatchObject({
      code: 'ROLLOUT_PREFLIGHT_FAILED',
      details: { problems: [expect.objectContaining({ code: 'SURGE_NO_CAPACITY' })] },
    });
  });

  it('rolling replacement with maxSurge keeps every old member serving until its replacement is up', async () => {
    const clock = new VirtualClock(T0);
    const fleet = new SimulatedFleet({
      clock,
      members: zonedMembers([[7]]),
      updateMs: 60_000,
      constraints: { surgeCapacity: 2 },
    });
    const spec = baseSpec({
      action: 'replace',
      strategy: { type: 'rolling', maxUnavailable: 0, maxSurge: 2 },
    });
    const r = await startRollout({
      id: 's',
      spec,
      fleet,
      store: new MemoryStateStore(() => clock.now()),
      clock,
      controlPollMs: Number.POSITIVE_INFINITY,
    });
    expect(r.status).toBe('completed');
    expect(fleet.disruptions).toEqual([]);
    expect(fleet.maxSurgeInUse).toBe(2);
    expect(r.durationMs).toBe(4 * 60_000);
  });

  it('blue-green switches traffic to the new set once it is up, and back before a rollback', async () => {
    const run = async (faults: SimFault[]) => {
      const clock = new VirtualClock(T0);
      const fleet = new SimulatedFleet({
        clock,
        members: zonedMembers([[4]]),
        updateMs: 60_000,
        constraints: { surgeCapacity: 4 },
        faults,
      });
      const switches: { at: number; image: string; onNew: number }[] = [];
      const withSwitch = Object.assign(fleet, {
        switchTraffic: async (image: ImageRef) => {
          const onNew = (await fleet.members()).filter((m) => m.image?.digest === NEW.digest).length;
          switches.push({ at: clock.now() - T0, image: image.version ?? image.digest, onNew });
        },
      });
      const spec = baseSpec({
        action: 'replace',
        strategy: { type: 'blue-green', rollbackWindow: '10m', gates: ['metric'] },
        gates: GATES,
      });
      const store = new MemoryStateStore(() => clock.now());
      const r = await startRollout({
        id: 'bg',
        spec,
        fleet: withSwitch,
        store,
        clock,
        gateRunner: simulatedGateRunner(faults),
        controlPollMs: Number.POSITIVE_INFINITY,
      });
      return { r, switches, fleet, journal: store.peek('bg') };
    };
    const ok = await run([]);
    expect(ok.r.status).toBe('completed');
    // One switch, after the whole new set is up and before the rollback window's gates.
    expect(ok.switches).toEqual([{ at: 60_000, image: NEW.version, onNew: 4 }]);
    expect(ok.r.timeline.filter((e) => e.type === 'traffic-switch')).toHaveLength(1);
    expect(ok.journal.filter((e) => e.type === 'traffic')).toHaveLength(1);

    const bad = await run([{ type: 'gate', gate: 'metric', result: 'failed' }]);
    expect(bad.r.status).toBe('rolled-back');
    expect(bad.switches.map((x) => x.image)).toEqual([NEW.version, OLD.version]);
    // Traffic went back while the new set was still up, before any member was replaced back.
    expect(bad.switches[1]?.onNew).toBe(4);
    expect(await images(bad.fleet)).toEqual([OLD.version]);
  });
});

describe('cancellation', () => {
  it('stops driving when the context signal aborts; resume reconciles what was in flight', async () => {
    const spec = baseSpec({ strategy: { type: 'rolling', maxUnavailable: 2 } });
    const { options, clock, fleet } = setup(spec);
    const controller = new AbortController();
    clock.schedule(T0 + 90_000, () => controller.abort());
    await expect(startRollout(options, { signal: controller.signal })).rejects.toMatchObject({
      kind: 'aborted',
    });
    const r = await resumeRollout({ ...options, waitForLease: true });
    expect(r.status).toBe('completed');
    expect(fleet.violations).toEqual([]);
  });
});
