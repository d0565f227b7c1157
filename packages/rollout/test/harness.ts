import type { FleetConstraints, ImageRef } from '@drover/core';
import {
  ControllerCrash,
  CrashInjector,
  MemoryStateStore,
  type RolloutResult,
  type RolloutSpec,
  resumeRollout,
  type SimFault,
  type SimMemberSpec,
  SimulatedFleet,
  simulatedGateRunner,
  startRollout,
  VirtualClock,
} from '../src/index.js';

export const OLD: ImageRef = { uri: 'local:old', digest: `sha256:${'1'.repeat(64)}`, version: '1.0.0' };
export const NEW: ImageRef = { uri: 'local:new', digest: `sha256:${'2'.repeat(64)}`, version: '2.0.0' };
export const T0 = Date.parse('2026-11-23T00:00:00Z');

/** A zoned fleet: `layout[r][z]` members in zone z of region r. */
export function zonedMembers(layout: number[][]): SimMemberSpec[] {
  const out: SimMemberSpec[] = [];
  layout.forEach((zones, r) => {
    zones.forEach((n, z) => {
      for (let i = 0; i < n; i++)
        out.push({
          id: `r${r}-z${z}-${i}`,
          region: `r${r}`,
          zone: `r${r}-z${z}`,
          image: OLD,
          seed: (i * 613 + z * 97 + r * 31) % 2048,
        });
    });
  });
  return out;
}

export function baseSpec(extra: Partial<RolloutSpec> & Pick<RolloutSpec, 'strategy'>): RolloutSpec {
  return {
    apiVersion: 'drover.dev/v1',
    kind: 'Rollout',
    name: 'test',
    image: { uri: NEW.uri, digest: NEW.digest, version: '2.0.0' },
    ...extra,
  };
}

export interface Scenario {
  spec: RolloutSpec;
  members: SimMemberSpec[];
  updateMs?: number;
  faults?: SimFault[];
  constraints?: FleetConstraints;
  /** Crash the n-th controller at step `at` (before or after the step takes effect). */
  crashes?: { at: number; when: 'before' | 'after' }[];
}

export interface ScenarioRun {
  result: RolloutResult;
  fleet: SimulatedFleet;
  store: MemoryStateStore;
  clock: VirtualClock;
  crashes: number;
}

/** Run a rollout to its end on a simulated fleet, restarting the controller after every injected crash. */
export async function runScenario(s: Scenario): Promise<ScenarioRun> {
  const clock = new VirtualClock(T0);
  const faults = s.faults ?? [];
  const fleet = new SimulatedFleet({
    clock,
    members: s.members,
    updateMs: s.updateMs ?? 60_000,
    faults,
    ...(s.constraints ? { constraints: s.constraints } : {}),
  });
  const store = new MemoryStateStore(() => clock.now());
  let crashes = 0;
  for (let attempt = 0; ; attempt++) {
    const crash = s.crashes?.[attempt];
    const inj = crash ? new CrashInjector(store, fleet, crash.at, crash.when) : undefined;
    const options = {
      id: 'r1',
      spec: s.spec,
      fleet: inj?.fleet ?? fleet,
      store: inj?.store ?? store,
      clock,
      holder: `controller-${attempt}`,
      leaseTtlMs: 30_000,
      waitForLease: true,
      gateRunner: simulatedGateRunner(faults),
      approvals: 'auto' as const,
      controlPollMs: Number.POSITIVE_INFINITY,
    };
    try {
      const fresh = store.peek('r1').length === 0;
      const result = fresh ? await startRollout(options) : await resumeRollout(options);
      return { result, fleet, store, clock, crashes };
    } catch (error) {
      if (!(error instanceof ControllerCrash)) throw error;
      crashes++;
      if (attempt > 50) throw new Error('too many crashes');
    }
  }
}
