import { type Context, DroverError, type FleetConstraints, type ImageRef } from '@drover/core';
import { z } from 'zod';
import { analysisDurationMs } from './analysis.js';
import { DisruptionBudget } from './budget.js';
import { VirtualClock } from './clock.js';
import { DURATION_PATTERN, parseDuration } from './duration.js';
import { type RolloutResult, startRollout, type TimelineEvent, type VerifyImage } from './engine.js';
import type { RolloutSpec } from './schema.js';
import { type SimFault, type SimMemberSpec, SimulatedFleet, simulatedGateRunner } from './sim.js';
import { imageRefOf } from './spec.js';
import { MemoryStateStore } from './store.js';
import { compileStrategy } from './strategy.js';
import { parsePositionedYaml, YamlSyntaxError } from './yaml.js';

/** A fleet to simulate: explicit members, or counts per zone. */
export interface SimFleetDescription {
  /** The image members run now. */
  image?: string | ImageRef;
  /** Time one member takes to update (or be replaced) and boot: seconds or text such as 3m. */
  updateTime?: number | string;
  zones?: { region?: string; zone: string; members: number }[];
  members?: SimMemberSpec[];
  constraints?: FleetConstraints;
  faults?: SimFault[];
}

const durationSchema = z.union([z.number().min(0), z.string().regex(DURATION_PATTERN)]);
const selector = { members: z.array(z.string()).optional(), zone: z.string().optional() };
const faultSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('fail-boot'), ...selector }),
  z.strictObject({ type: z.literal('unhealthy'), ...selector }),
  z.strictObject({ type: z.literal('flapping'), ...selector }),
  z.strictObject({ type: z.literal('slow'), factor: z.number().min(1), ...selector }),
  z.strictObject({
    type: z.literal('zone-down'),
    zone: z.string(),
    at: durationSchema,
    duration: durationSchema,
  }),
  z.strictObject({
    type: z.literal('gate'),
    gate: z.string(),
    stage: z.number().int().min(0).optional(),
    result: z.enum(['failed', 'inconclusive', 'error']),
  }),
]);
const imageSchema = z.union([
  z.string(),
  z.strictObject({
    uri: z.string(),
    digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
    version: z.string().optional(),
  }),
]);
const fleetFileSchema = z.strictObject({
  fleet: z.strictObject({
    image: imageSchema.optional(),
    updateTime: durationSchema.optional(),
    zones: z
      .array(
        z.strictObject({ region: z.string().optional(), zone: z.string(), members: z.number().int().min(0) }),
      )
      .optional(),
    members: z
      .array(
        z.strictObject({
          id: z.string(),
          region: z.string().optional(),
          zone: z.string().optional(),
          seed: z.number().int().min(0).max(2047).optional(),
          image: imageSchema.optional(),
        }),
      )
      .optional(),
    constraints: z
      .strictObject({
        maxUnavailable: z.number().int().min(0).optional(),
        maxUnavailablePerZone: z.record(z.string(), z.number().int().min(0)).optional(),
        surgeCapacity: z.number().int().min(0).optional(),
      })
      .optional(),
  }),
  faults: z.array(faultSchema).optional(),
});

const OLD_IMAGE: ImageRef = {
  uri: 'simulated:previous',
  digest: `sha256:${'0'.repeat(64)}`,
  version: 'previous',
};

function toImage(
  i: string | { uri: string; digest: string; version?: string | undefined } | undefined,
): ImageRef | undefined {
  if (i === undefined) return undefined;
  if (typeof i === 'string') {
    const m = /sha256:[0-9a-f]{64}$/.exec(i);
    return { uri: i, digest: (m ? m[0] : OLD_IMAGE.digest) as ImageRef['digest'] };
  }
  return imageRefOf(i as RolloutSpec['image']);
}

/** Parse a simulated-fleet description (YAML or JSON: `fleet:` plus optional `faults:`). */
export function parseFleetDescription(options: { text: string; file?: string }): SimFleetDescription {
  const file = options.file ?? '<fleet>';
  let value: unknown;
  let doc: ReturnType<typeof parsePositionedYaml>;
  try {
    doc = parsePositionedYaml(options.text, file);
    value = doc.value;
  } catch (error) {
    if (error instanceof YamlSyntaxError) {
      throw new DroverError(
        'FLEET_DESCRIPTION_INVALID',
        `${file}:${error.position.line}:${error.position.column}: YAML: ${error.message}`,
      );
    }
    throw error;
  }
  const r = fleetFileSchema.safeParse(value ?? {});
  if (!r.success) {
    const issue = r.error.issues[0] as z.core.$ZodIssue;
    const path = issue.path.map(String).join('.');
    const pos = doc.valueAt.get(path) ?? doc.keyAt.get(path) ?? { line: 1, column: 1 };
    throw new DroverError(
      'FLEET_DESCRIPTION_INVALID',
      `${file}:${pos.line}:${pos.column}: ${path || 'fleet'}: ${issue.message}`,
      {
        hint: 'A simulated fleet has `fleet: { image, updateTime, zones: [{ region, zone, members }] }` and optional `faults:`; see docs/rollout.md.',
        details: {
          problems: r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
        },
      },
    );
  }
  const f = r.data.fleet;
  const image = toImage(f.image);
  const faults: SimFault[] = (r.data.faults ?? []).map((x) =>
    x.type === 'zone-down'
      ? { type: 'zone-down', zone: x.zone, atMs: parseDuration(x.at), durationMs: parseDuration(x.duration) }
      : (x as SimFault),
  );
  const out: SimFleetDescription = { faults };
  if (image) out.image = image;
  if (f.updateTime !== undefined) out.updateTime = f.updateTime;
  if (f.zones)
    out.zones = f.zones.map((zn) => ({
      zone: zn.zone,
      members: zn.members,
      ...(zn.region ? { region: zn.region } : {}),
    }));
  if (f.members) {
    out.members = f.members.map((m) => {
      const img = toImage(m.image);
      return {
        id: m.id,
        ...(m.region ? { region: m.region } : {}),
        ...(m.zone ? { zone: m.zone } : {}),
        ...(m.seed !== undefined ? { seed: m.seed } : {}),
        ...(img ? { image: img } : {}),
      };
    });
  }
  if (f.constraints) out.constraints = f.constraints as FleetConstraints;
  return out;
}

/** The members a description stands for. */
export function membersOf(description: SimFleetDescription): SimMemberSpec[] {
  const image =
    typeof description.image === 'string' ? toImage(description.image) : (description.image ?? OLD_IMAGE);
  if (description.members)
    return description.members.map((m) => ({ ...m, image: m.image ?? (image as ImageRef) }));
  const out: SimMemberSpec[] = [];
  for (const z of description.zones ?? []) {
    const width = String(z.members).length;
    for (let i = 0; i < z.members; i++) {
      out.push({
        id: `${z.zone}-${String(i).padStart(width, '0')}`,
        zone: z.zone,
        ...(z.region ? { region: z.region } : {}),
        image: image as ImageRef,
      });
    }
  }
  return out;
}

export interface PlanRolloutOptions {
  spec: RolloutSpec;
  fleet: SimFleetDescription;
  /** Faults to inject on top of the description's. */
  faults?: SimFault[];
  /** When the simulated rollout starts (epoch ms or RFC 3339); default now. */
  startAt?: number | string;
  verifyImage?: VerifyImage;
}

/** One step of the planned timeline. */
export interface PlannedStage {
  index: number;
  name: string;
  members: number;
  start?: string;
  membersDone?: string;
  end?: string;
  bakeMs: number;
  gates: string[];
  approval: boolean;
}

/** What `planRollout` predicts. */
export interface RolloutPlan {
  status: RolloutResult['status'];
  reason?: string;
  startAt: string;
  finishAt: string;
  predictedDurationMs: number;
  /** ceil(n/k)·T per step plus bakes and gate analyses: no schedule can be faster. */
  lowerBoundMs: number;
  /** Members unavailable at once at the worst moment of the simulation. */
  worstCaseUnavailable: number;
  /** The fleet-wide budget at the start. */
  budgetAtStart: number;
  perMemberMs: number;
  members: RolloutResult['members'];
  stages: PlannedStage[];
  timeline: (Omit<TimelineEvent, 'at'> & { at: string; offsetMs: number })[];
  /** Provider calls the simulation made. */
  actions: number;
}

/** Simulate the rollout on a virtual clock with the real engine and predict its timeline. */
export async function planRollout(options: PlanRolloutOptions, ctx: Context = {}): Promise<RolloutPlan> {
  const startAt =
    options.startAt === undefined
      ? Date.now()
      : typeof options.startAt === 'number'
        ? options.startAt
        : Date.parse(options.startAt);
  if (Number.isNaN(startAt))
    throw new DroverError('PLAN_START_INVALID', `invalid start time ${String(options.startAt)}`, {
      hint: 'Use RFC 3339, e.g. 2026-11-23T02:00:00Z.',
    });
  const clock = new VirtualClock(startAt);
  const members = membersOf(options.fleet);
  const faults = [...(options.fleet.faults ?? []), ...(options.faults ?? [])];
  const perMemberMs = parseDuration(options.fleet.updateTime ?? '2m', 'updateTime');
  const fleet = new SimulatedFleet({
    clock,
    members,
    updateMs: perMemberMs,
    faults,
    ...(options.fleet.constraints ? { constraints: options.fleet.constraints } : {}),
  });
  const store = new MemoryStateStore(() => clock.now());
  const result = await startRollout(
    {
      id: 'plan',
      spec: options.spec,
      fleet,
      store,
      clock,
      holder: 'planner',
      leaseTtlMs: 365 * 86_400_000,
      gateRunner: simulatedGateRunner(faults),
      approvals: 'auto',
      controlPollMs: Number.POSITIVE_INFINITY,
      ...(options.verifyImage ? { verifyImage: options.verifyImage } : {}),
    },
    ctx,
  );
  const target = imageRefOf(options.spec.image);
  const pending = members.filter((m) => m.image?.digest !== target.digest);
  const compiled = compileStrategy(options.spec, pending, members.length, startAt);
  const zoneSizes = new Map<string, number>();
  for (const m of members) zoneSizes.set(m.zone ?? '-', (zoneSizes.get(m.zone ?? '-') ?? 0) + 1);
  const budget = new DisruptionBudget({
    budgets: options.spec.budgets ?? [],
    ...(options.spec.defaultBudget !== undefined ? { defaultBudget: options.spec.defaultBudget } : {}),
    total: members.length,
    zoneSizes,
    strategyFleet: compiled.maxUnavailable,
    ...(options.fleet.constraints ? { constraints: options.fleet.constraints } : {}),
  });
  const surge = Math.min(compiled.maxSurge, options.fleet.constraints?.surgeCapacity ?? 0);
  const k = Math.max(
    1,
    (Number.isFinite(budget.at(startAt).fleet) ? budget.at(startAt).fleet : pending.length) +
      (compiled.action === 'replace' ? surge : 0),
  );
  let lowerBoundMs = 0;
  for (const st of compiled.stages) {
    if (st.members.length > 0) lowerBoundMs += Math.ceil(st.members.length / k) * perMemberMs;
    lowerBoundMs += st.bakeMs + st.gates.reduce((s, g) => s + analysisDurationMs(g), 0);
    // Seeded waves: nobody can finish before the last member becomes eligible and is updated.
    const last = st.notBefore?.[st.notBefore.length - 1];
    if (last !== undefined) lowerBoundMs = Math.max(lowerBoundMs, last - startAt + perMemberMs);
  }
  let worst = 0;
  for (const d of fleet.disruptions) worst = Math.max(worst, d.unavailable);
  const iso = (t: number | undefined): string | undefined =>
    t === undefined ? undefined : new Date(t).toISOString();
  return {
    status: result.status,
    ...(result.reason ? { reason: result.reason } : {}),
    startAt: new Date(startAt).toISOString(),
    finishAt: new Date(result.finishedAt).toISOString(),
    predictedDurationMs: result.finishedAt - startAt,
    lowerBoundMs,
    worstCaseUnavailable: worst,
    budgetAtStart: budget.at(startAt).fleet,
    perMemberMs,
    members: result.members,
    stages: result.stages.map((s) => {
      const p: PlannedStage = {
        index: s.index,
        name: s.name,
        members: s.members,
        bakeMs: s.bakeMs,
        gates: s.gates,
        approval: s.approval,
      };
      const a = iso(s.startedAt);
      const b = iso(s.membersDoneAt);
      const c = iso(s.endedAt);
      if (a) p.start = a;
      if (b) p.membersDone = b;
      if (c) p.end = c;
      return p;
    }),
    timeline: result.timeline.map((e) => ({
      ...e,
      at: new Date(e.at).toISOString(),
      offsetMs: e.at - startAt,
    })),
    actions: result.actions,
  };
}
