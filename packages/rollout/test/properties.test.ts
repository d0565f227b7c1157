import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CanaryStepSpec,
  compileStrategy,
  DisruptionBudget,
  planRollout,
  type RolloutSpec,
  type SimFault,
} from '../src/index.js';
import { baseSpec, NEW, OLD, runScenario, type Scenario, type ScenarioRun, zonedMembers } from './harness.js';

// Safety properties of the engine, on the simulated fleet, with faults and controller crashes injected.
// Budgets: runs here add up to well over 1,000 (700 random + every crash point of a scenario + 300 makespan runs).

const quantity = fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constantFrom('25%', '50%', '34%'));

const strategyArb: fc.Arbitrary<RolloutSpec['strategy']> = fc.oneof(
  fc.record({ type: fc.constant('rolling' as const), maxUnavailable: quantity }),
  fc.record({
    type: fc.constant('canary' as const),
    maxUnavailable: fc.integer({ min: 1, max: 3 }),
    steps: fc.constantFrom<CanaryStepSpec[][]>(
      [
        { count: 1, bake: '5m', gates: ['healthy'] },
        { percent: 50, bake: '2m', gates: ['metric'] },
      ],
      [{ count: 2, gates: ['metric', 'healthy'] }],
      [
        { percent: 10, bake: '1m' },
        { percent: 60, gates: ['healthy'] },
        { percent: 100, gates: ['metric'] },
      ],
    ),
  }),
  fc.record({
    type: fc.constant('waves' as const),
    growth: fc.constantFrom(2, 3),
    maxUnavailablePerZone: fc.integer({ min: 1, max: 2 }),
    bake: fc.constant('1m'),
    gates: fc.constant<string[]>(['healthy', 'metric']),
  }),
  fc.record({
    type: fc.constant('seeded' as const),
    maxUnavailable: fc.integer({ min: 1, max: 3 }),
    waves: fc.constant<{ seed: number; start: string }[]>([
      { seed: 700, start: '+30m' },
      { seed: 2000, start: '+90m' },
    ]),
  }),
);

const budgetsArb = fc.subarray([
  { maxUnavailable: 3 },
  { maxUnavailable: '30%' },
  { maxUnavailable: 1, perZone: true },
  { maxUnavailable: 0, schedule: { cron: '*/30 * * * *', duration: '10m' } },
  { maxUnavailable: 5, schedule: { cron: '0 * * * *', duration: '20m', timeZone: 'Europe/Berlin' } },
]);

const layoutArb = fc.array(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }), {
  minLength: 1,
  maxLength: 3,
});

type FaultSeed =
  | { kind: 'fail-boot' | 'unhealthy' | 'flapping' | 'slow'; idx: number }
  | { kind: 'zone-down'; idx: number; at: number; duration: number }
  | { kind: 'gate'; result: 'failed' | 'inconclusive' | 'error'; stage: number | undefined };

const faultArb: fc.Arbitrary<FaultSeed> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('fail-boot' as const, 'unhealthy' as const, 'flapping' as const, 'slow' as const),
    idx: fc.nat(),
  }),
  fc.record({
    kind: fc.constant('zone-down' as const),
    idx: fc.nat(),
    at: fc.integer({ min: 0, max: 7_200_000 }),
    duration: fc.integer({ min: 60_000, max: 3_600_000 }),
  }),
  fc.record({
    kind: fc.constant('gate' as const),
    result: fc.constantFrom('failed' as const, 'inconclusive' as const, 'error' as const),
    stage: fc.option(fc.nat(3), { nil: undefined }),
  }),
);

function faultsFor(seeds: FaultSeed[], ids: string[], zones: string[]): SimFault[] {
  return seeds.map((f): SimFault => {
    if (f.kind === 'zone-down')
      return {
        type: 'zone-down',
        zone: zones[f.idx % zones.length] as string,
        atMs: f.at,
        durationMs: f.duration,
      };
    if (f.kind === 'gate')
      return {
        type: 'gate',
        gate: 'metric',
        result: f.result,
        ...(f.stage !== undefined ? { stage: f.stage } : {}),
      };
    const member = ids[f.idx % ids.length] as string;
    return f.kind === 'slow'
      ? { type: 'slow', members: [member], factor: 3 }
      : { type: f.kind, members: [member] };
  });
}

const GATES: RolloutSpec['gates'] = [
  { name: 'healthy', type: 'health', count: 2, interval: '1m' },
  {
    name: 'metric',
    type: 'prometheus',
    url: 'http://prometheus:9090',
    query: 'error_rate',
    max: 0.01,
    count: 2,
    interval: '30s',
  },
];

/** Check every safety property on a finished run. */
function checkSafety(s: Scenario, run: ScenarioRun): void {
  const { result, fleet } = run;
  const ids = s.members.map((m) => m.id);
  // 1. Never more unavailable than every applicable budget allows, at the moment any disruption began.
  const compiled = compileStrategy(s.spec, s.members, s.members.length, result.startedAt);
  const zoneSizes = new Map<string, number>();
  for (const m of s.members) zoneSizes.set(m.zone ?? '-', (zoneSizes.get(m.zone ?? '-') ?? 0) + 1);
  const budget = new DisruptionBudget({
    budgets: s.spec.budgets ?? [],
    ...(s.spec.defaultBudget !== undefined ? { defaultBudget: s.spec.defaultBudget } : {}),
    total: s.members.length,
    zoneSizes,
    strategyFleet: compiled.maxUnavailable,
    ...(compiled.maxUnavailablePerZone !== undefined ? { strategyZone: compiled.maxUnavailablePerZone } : {}),
  });
  for (const d of fleet.disruptions) {
    // Taking back a member that is down already (a failed one, in a zone that went down) costs no availability.
    if (d.alreadyUnavailable) continue;
    const limits = budget.at(d.at);
    expect(d.unavailable, `fleet-wide at ${new Date(d.at).toISOString()} (${d.member})`).toBeLessThanOrEqual(
      limits.fleet,
    );
    expect(d.zoneUnavailable, `zone ${d.zone} at ${new Date(d.at).toISOString()}`).toBeLessThanOrEqual(
      limits.zone(d.zone),
    );
  }
  // 2. Never changed a member twice, or while it was changing.
  expect(fleet.violations).toEqual([]);
  expect(ids.length).toBe(s.members.length);
}

async function finalImages(
  run: ScenarioRun,
): Promise<Map<string, { digest: string | undefined; state: string }>> {
  const out = new Map<string, { digest: string | undefined; state: string }>();
  for (const m of await run.fleet.members()) out.set(m.id, { digest: m.image?.digest, state: m.state });
  return out;
}

async function checkEndState(s: Scenario, run: ScenarioRun): Promise<void> {
  const finals = await finalImages(run);
  const status = run.result.status;
  for (const [id, f] of finals) {
    expect(['updating', 'replacing', 'rebooting'], `${id} left ${f.state}`).not.toContain(f.state);
    if (status === 'completed') expect(f.digest, `${id} after completion`).toBe(NEW.digest);
    else if (status === 'rolled-back') expect(f.digest, `${id} after rollback`).toBe(OLD.digest);
    else expect([NEW.digest, OLD.digest]).toContain(f.digest);
  }
  if (status === 'completed') expect(run.result.members.updated).toBe(s.members.length);
  // 4. A failed gate (or any halt) stops further disruption: no forward intent after the first halt.
  const journal = run.store.peek('r1');
  const haltAt = journal.findIndex(
    (e) => e.type === 'halt' || (e.type === 'control' && (e.action === 'abort' || e.action === 'rollback')),
  );
  if (haltAt >= 0) {
    const forwardAfter = journal.slice(haltAt).filter((e) => e.type === 'intent' && e.op !== 'rollback');
    expect(forwardAfter).toEqual([]);
  }
  if (run.result.gates.some((g) => g.phase === 'failed' || g.phase === 'error'))
    expect(['rolled-back', 'aborted']).toContain(status);
}

function buildScenario(
  layout: number[][],
  strategy: RolloutSpec['strategy'],
  budgets: NonNullable<RolloutSpec['budgets']>,
  faultSeeds: FaultSeed[],
  rollback: boolean,
  crashes: { at: number; when: 'before' | 'after' }[],
): Scenario {
  const members = zonedMembers(layout);
  const zones = [...new Set(members.map((m) => m.zone as string))];
  return {
    spec: baseSpec({
      strategy,
      budgets,
      gates: GATES,
      onFailure: { rollback },
      health: { timeout: '2h', interval: '30s' },
    }),
    members,
    updateMs: 120_000,
    faults: faultsFor(
      faultSeeds,
      members.map((m) => m.id),
      zones,
    ),
    crashes,
  };
}

describe('rollout safety properties (fast-check)', () => {
  it('never exceeds a budget, never updates twice, ends on new or old, halts on failure — with faults and crashes', async () => {
    await fc.assert(
      fc.asyncProperty(
        layoutArb,
        strategyArb,
        budgetsArb,
        fc.array(faultArb, { maxLength: 3 }),
        fc.boolean(),
        fc.array(
          fc.record({
            at: fc.integer({ min: 1, max: 160 }),
            when: fc.constantFrom('before' as const, 'after' as const),
          }),
          { maxLength: 3 },
        ),
        async (layout, strategy, budgets, faultSeeds, rollback, crashes) => {
          const s = buildScenario(
            layout,
            strategy,
            budgets as NonNullable<RolloutSpec['budgets']>,
            faultSeeds,
            rollback,
            crashes,
          );
          let run: ScenarioRun;
          try {
            run = await runScenario(s);
          } catch (error) {
            // Preflight may refuse the spec (e.g. 25% of 3 members rounds down to 0): that must be the only refusal.
            expect((error as { code?: string }).code).toBe('ROLLOUT_PREFLIGHT_FAILED');
            return;
          }
          checkSafety(s, run);
          await checkEndState(s, run);
        },
      ),
      { numRuns: 700, timeout: 5000 },
    );
  }, 120_000);

  it('a crash at every single step, before or after it takes effect, resumes to the same end state exactly once per member', async () => {
    const s0 = buildScenario(
      [[3, 3], [2]],
      {
        type: 'canary',
        maxUnavailable: 2,
        steps: [
          { count: 1, bake: '5m', gates: ['healthy'] },
          { percent: 50, gates: ['metric'] },
        ],
      },
      [{ maxUnavailable: 1, perZone: true }],
      [],
      true,
      [],
    );
    const clean = await runScenario(s0);
    expect(clean.result.status).toBe('completed');
    const cleanFinal = await finalImages(clean);
    const steps = clean.store.peek('r1').length + clean.result.actions;
    let runs = 0;
    for (let at = 1; at <= steps + 1; at++) {
      for (const when of ['before', 'after'] as const) {
        const s = { ...s0, crashes: [{ at, when }] };
        const run = await runScenario(s);
        runs++;
        checkSafety(s, run);
        await checkEndState(s, run);
        expect(run.result.status).toBe('completed');
        expect(await finalImages(run)).toEqual(cleanFinal);
        for (const m of s.members) expect(run.fleet.updates.get(`${m.id} ${NEW.digest}`), m.id).toBe(1);
      }
    }
    expect(runs).toBeGreaterThan(60);
  }, 60_000);

  it('makespan is within 10% of the lower bound ceil(n/k)·T + bakes when nothing fails', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 120 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 30, max: 900 }),
        fc.constantFrom<RolloutSpec['strategy']['type']>('rolling', 'canary'),
        async (n, k, perMemberSeconds, type) => {
          const strategy: RolloutSpec['strategy'] =
            type === 'rolling'
              ? { type: 'rolling', maxUnavailable: k, bake: '10m' }
              : {
                  type: 'canary',
                  maxUnavailable: k,
                  steps: [
                    { count: 1, bake: '15m', gates: ['healthy'] },
                    { percent: 50, bake: '5m' },
                  ],
                };
          const spec = baseSpec({ strategy, gates: GATES, budgets: [{ maxUnavailable: k }] });
          const plan = await planRollout({
            spec,
            fleet: { image: OLD, updateTime: perMemberSeconds, zones: [{ zone: 'a', members: n }] },
            startAt: 0,
          });
          expect(plan.status).toBe('completed');
          expect(plan.predictedDurationMs).toBeGreaterThanOrEqual(plan.lowerBoundMs);
          expect(plan.predictedDurationMs).toBeLessThanOrEqual(plan.lowerBoundMs * 1.1);
          expect(plan.worstCaseUnavailable).toBeLessThanOrEqual(k);
          // And the bound is the one from the issue for a single-stage rollout.
          if (type === 'rolling')
            expect(plan.lowerBoundMs).toBe(Math.ceil(n / k) * perMemberSeconds * 1000 + 600_000);
        },
      ),
      { numRuns: 300 },
    );
  }, 60_000);
});
