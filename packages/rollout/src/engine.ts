import { randomUUID } from 'node:crypto';
import {
  type Context,
  DroverError,
  type Fleet,
  type FleetConstraints,
  type FleetMember,
  type ImageRef,
  isDroverError,
  type Lease,
  type StateStore,
  throwIfAborted,
} from '@drover/core';
import { type AnalysisResult, defaultGateRunner, type GateRunner, runAnalysis } from './analysis.js';
import { DisruptionBudget } from './budget.js';
import { type Clock, RealClock } from './clock.js';
import { parseDuration } from './duration.js';
import { foldJournal, type JournalView, type StartEntry } from './journal.js';
import { resolveQuantity } from './quantity.js';
import { WindowSet } from './schedule.js';
import type { RolloutSpec } from './schema.js';
import { imageRefOf } from './spec.js';
import { type CompiledStrategy, compileStrategy, type PlanMember, type Stage } from './strategy.js';

/** Optional fast paths a fleet may offer on top of core's `Fleet` (the simulator does; see the package README). */
export interface FleetExtensions {
  /** Members that are not ready right now, with their zone; cheaper than `members()` on large fleets. */
  notReady?(ctx?: Context): Promise<ReadonlyMap<string, string | undefined>>;
  /** One member by id. */
  member?(id: string, ctx?: Context): Promise<FleetMember | undefined>;
  /**
   * Send the fleet's traffic to the members running `image` (blue-green: called once the new set is up, and with
   * the previous image before a rollback). Must be idempotent: after a crash it is called again.
   */
  switchTraffic?(image: ImageRef, ctx?: Context): Promise<void>;
}

/** Checks that an image may be rolled out (signature policy); throws to refuse. Plugged in by the CLI. */
export type VerifyImage = (image: ImageRef, ctx: Context) => Promise<void>;

/** A step in the rollout's history, for timelines and live progress. */
export interface TimelineEvent {
  at: number;
  type:
    | 'start'
    | 'resume'
    | 'stage-start'
    | 'stage-members-done'
    | 'bake-done'
    | 'gate'
    | 'awaiting-approval'
    | 'approved'
    | 'window-wait'
    | 'budget-wait'
    | 'member-failed'
    | 'halt'
    | 'rollback-start'
    | 'traffic-switch'
    | 'status';
  stage?: number;
  detail?: string;
}

export type RolloutStatus = 'completed' | 'rolled-back' | 'aborted' | 'paused' | 'waiting-approval';

/** Per-stage figures. */
export interface StageReport {
  index: number;
  name: string;
  members: number;
  startedAt?: number;
  membersDoneAt?: number;
  endedAt?: number;
  bakeMs: number;
  gates: string[];
  approval: boolean;
}

/** What a run of the engine returns. */
export interface RolloutResult {
  id: string;
  status: RolloutStatus;
  reason?: string;
  target: ImageRef;
  previous?: ImageRef;
  startedAt: number;
  finishedAt: number;
  durationMs: number;
  members: {
    total: number;
    updated: number;
    failed: number;
    rolledBack: number;
    pending: number;
    alreadyCurrent: number;
  };
  stages: StageReport[];
  gates: AnalysisResult[];
  timeline: TimelineEvent[];
  /** Largest number of members unavailable at once that this controller observed when starting an action. */
  maxUnavailableObserved: number;
  /** Member actions this run performed (provider calls). */
  actions: number;
}

export interface RunRolloutOptions {
  /** Rollout id: names the journal and the lease. */
  id: string;
  spec: RolloutSpec;
  fleet: Fleet & FleetExtensions;
  store: StateStore;
  clock?: Clock;
  /** Who drives the rollout (lease holder); default hostname-pid-random. */
  holder?: string;
  leaseTtlMs?: number;
  /** Wait for another controller's lease to expire instead of failing with LOCK_HELD. */
  waitForLease?: boolean;
  gateRunner?: GateRunner;
  /** `auto` approves manual pauses (the planner); `wait` (default) stops with status waiting-approval. */
  approvals?: 'wait' | 'auto';
  verifyImage?: VerifyImage;
  /** How often to look for pause/abort/approve written by someone else (clock ms; Infinity to never). */
  controlPollMs?: number;
  /** Called for every timeline event (live progress). */
  onEvent?: (event: TimelineEvent) => void;
  /** Called when a member action starts and when it settles (live progress). */
  onMember?: (event: MemberEvent) => void;
}

/** A preflight finding. */
export interface PreflightProblem {
  code: string;
  message: string;
  hint?: string;
  /** For IMAGE_NOT_VERIFIED: the code of the verification error (IMAGE_UNSIGNED, ARTIFACT_TAMPERED, …). */
  cause?: string;
}

/** A member action as it happens, for live progress (not kept in the timeline: fleets can be large). */
export interface MemberEvent {
  at: number;
  member: string;
  /** update, replace, or rollback. */
  op: string;
  phase: 'started' | 'done' | 'failed';
  /** 0-based stage of the member (-1 when it belongs to none). */
  stage: number;
  reason?: string;
}

const TRANSITIONAL = new Set(['updating', 'rebooting', 'replacing']);

const isCrash = (e: unknown): boolean => (e as { name?: string } | undefined)?.name === 'ControllerCrash';

/** Static checks of a spec against a fleet, before anything changes. Returns problems; never throws for them. */
export async function preflightRollout(
  options: {
    spec: RolloutSpec;
    fleet: Fleet;
    members: readonly FleetMember[];
    constraints?: FleetConstraints;
    verifyImage?: VerifyImage;
    gateRunnerIsSimulated?: boolean;
  },
  ctx: Context = {},
): Promise<PreflightProblem[]> {
  const { spec, fleet, members } = options;
  const problems: PreflightProblem[] = [];
  const target = imageRefOf(spec.image);
  const pending = members.filter((m) => m.image?.digest !== target.digest && m.state !== 'gone');
  // Only the limits matter here, not the stages: compile without members (blue-green surges the whole set).
  const compiled = compileStrategy(spec, [], members.length, 0);
  if (spec.strategy.type === 'blue-green') compiled.maxSurge = pending.length;
  const constraints = options.constraints ?? {};
  // Surge needs capacity the fleet declares; unknown capacity is no capacity.
  const surge = Math.min(compiled.maxSurge, constraints.surgeCapacity ?? 0);
  const action = compiled.action;
  if (action === 'update' && !fleet.update) {
    problems.push({
      code: 'FLEET_CANNOT_UPDATE',
      message: `fleet ${fleet.id} cannot update members in place`,
      hint: 'Use action: replace.',
    });
  }
  if (action === 'replace' && !fleet.replace) {
    problems.push({
      code: 'FLEET_CANNOT_REPLACE',
      message: `fleet ${fleet.id} cannot replace members`,
      hint: 'Use action: update.',
    });
  }
  if (
    spec.strategy.type !== 'blue-green' &&
    compiled.maxSurge > 0 &&
    (!constraints.surgeCapacity || !fleet.replace)
  ) {
    problems.push({
      code: 'SURGE_NO_CAPACITY',
      message: `the strategy surges ${compiled.maxSurge} member(s) but fleet ${fleet.id} has no surge capacity`,
      hint: 'Set maxSurge: 0 and allow maxUnavailable instead, or give the fleet spare capacity.',
    });
  }
  if (spec.strategy.type === 'blue-green' && (constraints.surgeCapacity ?? 0) < pending.length) {
    problems.push({
      code: 'SURGE_NO_CAPACITY',
      message: `blue-green needs capacity for ${pending.length} new members; the fleet allows ${constraints.surgeCapacity ?? 0}`,
      hint: 'Use a canary or rolling strategy, or add capacity.',
    });
  }
  const disruptive = pending.length > 0 && surge === 0 && spec.strategy.type !== 'blue-green';
  if (disruptive) {
    const zoneSizes = zoneSizesOf(members);
    const budget = new DisruptionBudget({
      budgets: spec.budgets ?? [],
      ...(spec.defaultBudget !== undefined ? { defaultBudget: spec.defaultBudget } : {}),
      total: members.length,
      zoneSizes,
      strategyFleet: compiled.maxUnavailable,
      ...(compiled.maxUnavailablePerZone !== undefined
        ? { strategyZone: compiled.maxUnavailablePerZone }
        : {}),
      constraints,
    });
    if (compiled.maxUnavailable === 0) {
      problems.push({
        code: 'BUDGET_NO_DISRUPTION',
        message: `maxUnavailable rounds down to 0 for ${members.length} members, so no member could ever be updated`,
        hint: 'Use a count (maxUnavailable: 1) or a larger percentage.',
      });
    } else if (!budget.everAllowsDisruption()) {
      problems.push({
        code: 'BUDGET_NO_DISRUPTION',
        message: `the disruption budgets allow 0 of ${members.length} members to be unavailable at any time`,
        hint: 'Raise a budget (percentages round down: 10% of 5 members is 0) or add a scheduled window that allows disruption.',
      });
    } else {
      const limits = budget.at(Date.now());
      for (const [zone, size] of zoneSizes) {
        if (size > 0 && limits.zone(zone) === 0 && pending.some((m) => (m.zone ?? '-') === zone)) {
          problems.push({
            code: 'BUDGET_NO_DISRUPTION',
            message: `the per-zone budget allows 0 of ${size} members of zone ${zone} to be unavailable`,
            hint: 'Per-zone percentages apply to the zone size and round down; use a count.',
          });
        }
      }
    }
  }
  for (const gate of spec.gates ?? []) {
    // A simulation does not run commands; whether they exist is checked where the rollout really runs.
    if (gate.type === 'command' && !options.gateRunnerIsSimulated) {
      const cmd = gate.command[0] as string;
      if (!(await commandExists(cmd))) {
        problems.push({
          code: 'GATE_CANNOT_EVALUATE',
          message: `gate ${gate.name}: command "${cmd}" is not found`,
          hint: 'Give an absolute path or install it on this machine.',
        });
      }
    }
    if (gate.type === 'http' || gate.type === 'prometheus') {
      try {
        new URL(gate.url);
      } catch {
        problems.push({
          code: 'GATE_CANNOT_EVALUATE',
          message: `gate ${gate.name}: "${gate.url}" is not a valid URL`,
        });
      }
    }
  }
  if (options.verifyImage) {
    try {
      await options.verifyImage(target, ctx);
    } catch (error) {
      const cause = isDroverError(error) ? error : undefined;
      problems.push({
        code: 'IMAGE_NOT_VERIFIED',
        message: `image ${target.version ?? target.uri} does not verify: ${error instanceof Error ? error.message : String(error)}${cause ? ` [${cause.code}]` : ''}`,
        hint: cause?.hint ?? 'Roll out only images signed under the verification policy.',
        ...(cause ? { cause: cause.code } : {}),
      });
    }
  }
  return problems;
}

async function commandExists(cmd: string): Promise<boolean> {
  const { access, constants } = await import('node:fs/promises');
  const { delimiter, join } = await import('node:path');
  const candidates = cmd.includes('/')
    ? [cmd]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, cmd));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return true;
    } catch {
      // keep looking
    }
  }
  return false;
}

function zoneSizesOf(members: readonly { zone?: string | undefined }[]): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const m of members) sizes.set(m.zone ?? '-', (sizes.get(m.zone ?? '-') ?? 0) + 1);
  return sizes;
}

interface Track {
  id: string;
  zone: string;
  from?: ImageRef;
  member: FleetMember;
  stage: number;
  forward: 'pending' | 'active' | 'done' | 'failed' | 'already';
  rollback: 'none' | 'active' | 'done' | 'failed';
}

type StagePhase = 'run' | 'bake' | 'gates' | 'approval' | 'done';

/** Start a new rollout (fails if its journal exists) and drive it until it completes, pauses or halts. */
export async function startRollout(options: RunRolloutOptions, ctx: Context = {}): Promise<RolloutResult> {
  const existing = await options.store.read(options.id, ctx);
  if (existing.length > 0) {
    throw new DroverError('ROLLOUT_EXISTS', `rollout ${options.id} already exists`, {
      kind: 'conflict',
      hint: `Use \`drover rollout resume ${options.id}\` to continue it, or pick another id.`,
    });
  }
  return new RolloutEngine(options, ctx).run();
}

/** Continue a rollout from its journal and the fleet's actual state (after a pause, an approval or a crash). */
export async function resumeRollout(options: RunRolloutOptions, ctx: Context = {}): Promise<RolloutResult> {
  const existing = await options.store.read(options.id, ctx);
  if (existing.length === 0) {
    throw new DroverError('ROLLOUT_NOT_FOUND', `rollout ${options.id} has no journal`, {
      kind: 'not-found',
      hint: 'Start it with `drover rollout start`, or check --state.',
    });
  }
  const view = foldJournal(existing);
  if (view.paused)
    await options.store.append(
      options.id,
      { type: 'control', action: 'resume', at: (options.clock ?? new RealClock()).now() },
      ctx,
    );
  return new RolloutEngine(options, ctx).run();
}

class RolloutEngine {
  readonly #o: RunRolloutOptions;
  readonly #ctx: Context;
  readonly #clock: Clock;
  readonly #fleet: Fleet & FleetExtensions;
  readonly #store: StateStore;
  readonly #target: ImageRef;
  readonly #gateRunner: GateRunner;
  readonly #healthTimeout: number;
  readonly #healthInterval: number;
  readonly #timeline: TimelineEvent[] = [];
  readonly #gates: AnalysisResult[] = [];
  readonly #tracks = new Map<string, Track>();
  #view!: JournalView;
  #start!: StartEntry;
  #compiled!: CompiledStrategy;
  #budget!: DisruptionBudget;
  #windows!: WindowSet;
  #lease!: Lease;
  #leaseTtl: number;
  #nextRenew = 0;
  #nextControlPoll = 0;
  #journalSeen = 0;
  #inFlight = 0;
  #activeIds = new Set<string>();
  #surgeInFlight = 0;
  #busyIo = 0;
  #crash: unknown;
  #fatal: unknown;
  #failed = 0;
  #failureThreshold = 0;
  #actions = 0;
  #maxUnavailable = 0;
  #cur = 0;
  #phase: StagePhase = 'run';
  #bakeUntil = 0;
  #gateTask: Promise<void> | undefined;
  #gateOutcome: AnalysisResult | undefined;
  #cursor = 0;
  #stageReports: StageReport[] = [];
  #retryAt = Number.POSITIVE_INFINITY;
  #waiting: 'window' | 'budget' | undefined;
  #rollbackStarted = false;
  /** Blue-green: traffic now goes to the new set (this run switched it). */
  #switched = false;
  #rollbackCursor = 0;
  #startedAt = 0;

  constructor(options: RunRolloutOptions, ctx: Context) {
    this.#o = options;
    this.#ctx = ctx;
    this.#clock = options.clock ?? new RealClock();
    this.#fleet = options.fleet;
    this.#store = options.store;
    this.#target = imageRefOf(options.spec.image);
    this.#gateRunner = options.gateRunner ?? defaultGateRunner;
    this.#healthTimeout = parseDuration(options.spec.health?.timeout ?? '10m');
    this.#healthInterval = Math.max(1, parseDuration(options.spec.health?.interval ?? '10s'));
    this.#leaseTtl = options.leaseTtlMs ?? 30_000;
  }

  #event(e: Omit<TimelineEvent, 'at'>): void {
    const ev = { at: this.#clock.now(), ...e } as TimelineEvent;
    this.#timeline.push(ev);
    this.#o.onEvent?.(ev);
  }

  async #journal(entry: Record<string, unknown>): Promise<void> {
    this.#busyIo++;
    try {
      entry.at ??= this.#clock.now();
      await this.#store.append(this.#o.id, entry, this.#ctx);
    } finally {
      this.#busyIo--;
    }
  }

  async #acquire(): Promise<void> {
    const holder = this.#o.holder ?? `controller-${process.pid}-${randomUUID().slice(0, 8)}`;
    for (;;) {
      try {
        this.#lease = await this.#store.acquire(this.#o.id, holder, this.#leaseTtl, this.#ctx);
        this.#nextRenew = this.#clock.now() + this.#leaseTtl / 3;
        return;
      } catch (error) {
        if (!this.#o.waitForLease || !isDroverError(error, 'LOCK_HELD')) throw error;
        const until = Number(
          (error.details as { expiresAt?: number } | undefined)?.expiresAt ?? this.#clock.now() + 1000,
        );
        while (this.#clock.now() <= until) await this.#clock.idle(until + 1, false);
      }
    }
  }

  async run(): Promise<RolloutResult> {
    await this.#acquire();
    try {
      return await this.#drive();
    } finally {
      if (!this.#crash) await this.#lease.release().catch(() => undefined);
    }
  }

  async #drive(): Promise<RolloutResult> {
    const spec = this.#o.spec;
    const entries = await this.#store.read(this.#o.id, this.#ctx);
    this.#view = foldJournal(entries);
    this.#journalSeen = entries.length;
    let constraints: FleetConstraints = {};
    if (this.#fleet.constraints) constraints = await this.#fleet.constraints(this.#ctx);
    if (!this.#view.start) {
      const members = (await this.#fleet.members(this.#ctx)).filter((m) => m.state !== 'gone');
      const problems = await preflightRollout(
        {
          spec,
          fleet: this.#fleet,
          members,
          constraints,
          ...(this.#o.verifyImage ? { verifyImage: this.#o.verifyImage } : {}),
          gateRunnerIsSimulated: this.#o.gateRunner !== undefined,
        },
        this.#ctx,
      );
      const image = problems.find((p) => p.code === 'IMAGE_NOT_VERIFIED');
      if (image) {
        // The signature check comes first: nothing else matters for an image that may not be rolled out.
        throw new DroverError('IMAGE_NOT_VERIFIED', `preflight: ${image.message}`, {
          kind: 'denied',
          hint: image.hint ?? 'Roll out only images signed under the verification policy.',
          details: { problems, ...(image.cause ? { cause: image.cause } : {}) },
        });
      }
      if (problems.length > 0) {
        const first = problems[0] as PreflightProblem;
        throw new DroverError(
          'ROLLOUT_PREFLIGHT_FAILED',
          `preflight: ${first.message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`,
          {
            hint: first.hint ?? 'Fix the spec or the fleet and plan again.',
            details: { problems },
          },
        );
      }
      const counts = new Map<string, { ref: ImageRef; n: number }>();
      for (const m of members) {
        if (!m.image || m.image.digest === this.#target.digest) continue;
        const c = counts.get(m.image.digest);
        if (c) c.n++;
        else counts.set(m.image.digest, { ref: m.image, n: 1 });
      }
      const previous = [...counts.values()].sort((a, b) => b.n - a.n)[0]?.ref;
      const start: StartEntry = {
        type: 'start',
        at: this.#clock.now(),
        spec: spec.name,
        specDocument: spec,
        target: this.#target,
        ...(previous ? { previous } : {}),
        members: members.map((m) => [
          m.id,
          m.zone ?? null,
          m.region ?? null,
          m.seed ?? null,
          m.image?.digest ?? null,
          m.image?.uri ?? null,
        ]),
        already: members.filter((m) => m.image?.digest === this.#target.digest).map((m) => m.id),
      };
      await this.#journal(start as unknown as Record<string, unknown>);
      this.#view.start = start;
      this.#journalSeen++;
      this.#event({
        type: 'start',
        detail: `${members.length} members, ${start.already.length} already on ${this.#target.version ?? this.#target.digest.slice(0, 19)}`,
      });
    } else {
      this.#event({ type: 'resume', detail: `journal has ${entries.length} entries` });
    }
    this.#start = this.#view.start as StartEntry;
    this.#startedAt = this.#start.at;
    this.#setup(constraints);
    await this.#reconcile();
    return this.#loop();
  }

  #setup(constraints: FleetConstraints): void {
    const spec = this.#o.spec;
    const s = this.#start;
    const already = new Set(s.already);
    const pending: PlanMember[] = [];
    for (const [id, zone, region, seed, digest, uri] of s.members) {
      const member: FleetMember = {
        id,
        state: 'ready',
        ...(zone ? { zone } : {}),
        ...(region ? { region } : {}),
        ...(seed !== null ? { seed } : {}),
        ...(digest
          ? {
              image:
                s.previous?.digest === digest
                  ? s.previous
                  : { uri: uri ?? '', digest: digest as ImageRef['digest'] },
            }
          : {}),
      };
      this.#tracks.set(id, {
        id,
        zone: zone ?? '-',
        ...(member.image && !already.has(id) ? { from: member.image } : {}),
        member,
        stage: -1,
        forward: already.has(id) ? 'already' : 'pending',
        rollback: 'none',
      });
      if (!already.has(id))
        pending.push({
          id,
          ...(zone ? { zone } : {}),
          ...(region ? { region } : {}),
          ...(seed !== null ? { seed } : {}),
        });
    }
    this.#compiled = compileStrategy(spec, pending, s.members.length, s.at);
    this.#compiled.stages.forEach((st, i) => {
      for (const id of st.members) (this.#tracks.get(id) as Track).stage = i;
      this.#stageReports.push({
        index: i,
        name: st.name,
        members: st.members.length,
        bakeMs: st.bakeMs,
        gates: st.gates.map((g) => g.name),
        approval: st.approval,
      });
    });
    this.#budget = new DisruptionBudget({
      budgets: spec.budgets ?? [],
      ...(spec.defaultBudget !== undefined ? { defaultBudget: spec.defaultBudget } : {}),
      total: s.members.length,
      zoneSizes: zoneSizesOf(s.members.map(([, zone]) => (zone ? { zone } : {}))),
      strategyFleet: this.#compiled.maxUnavailable,
      ...(this.#compiled.maxUnavailablePerZone !== undefined
        ? { strategyZone: this.#compiled.maxUnavailablePerZone }
        : {}),
      constraints,
    });
    this.#compiled.maxSurge = Math.min(this.#compiled.maxSurge, constraints.surgeCapacity ?? 0);
    this.#windows = new WindowSet(spec.windows ?? []);
    this.#failureThreshold = resolveQuantity(spec.failureThreshold ?? 0, s.members.length, 'down');
    // Apply what the journal says.
    const v = this.#view;
    for (const [id, st] of v.forward) {
      const t = this.#tracks.get(id);
      if (!t) continue;
      if (st === 'done') t.forward = 'done';
      if (st === 'failed') {
        t.forward = 'failed';
        this.#failed++;
      }
    }
    for (const [id, st] of v.rollback) {
      const t = this.#tracks.get(id);
      if (t && st === 'done') t.rollback = 'done';
      if (t && st === 'failed') t.rollback = 'failed';
    }
    // The first stage not completed, and where in it we are.
    this.#cur = 0;
    while (this.#cur < this.#compiled.stages.length && v.stageEvents.get(this.#cur)?.has('completed'))
      this.#cur++;
    const ev = v.stageEvents.get(this.#cur);
    if (ev?.has('gates-passed')) this.#phase = 'approval';
    else if (ev?.has('baked')) this.#phase = 'gates';
    else if (ev?.has('members-done')) {
      this.#phase = 'bake';
      this.#bakeUntil =
        (v.membersDoneAt.get(this.#cur) ?? this.#clock.now()) +
        (this.#compiled.stages[this.#cur]?.bakeMs ?? 0);
    } else this.#phase = 'run';
  }

  /** Members whose intent has no outcome: look at the fleet, wait for them to settle, record what happened. */
  async #reconcile(): Promise<void> {
    if (this.#view.forward.size > 0) {
      // Resuming: what members run now comes from the fleet, not from the snapshot taken at the start.
      const now = new Map((await this.#fleet.members(this.#ctx)).map((m) => [m.id, m]));
      for (const t of this.#tracks.values()) {
        const m = now.get(t.id);
        if (m && (t.forward === 'done' || t.forward === 'failed')) t.member = m;
      }
    }
    for (const [id, op] of this.#view.uncertainOp) {
      const t = this.#tracks.get(id);
      if (!t) continue;
      const rollback = op === 'rollback';
      if (rollback) t.rollback = 'active';
      else t.forward = 'active';
      this.#inFlight++;
      this.#activeIds.add(id);
      void this.#task(t, async () => {
        const want = rollback ? (t.from as ImageRef) : this.#target;
        let m: FleetMember | undefined;
        for (;;) {
          m = await this.#lookup(id);
          if (!m || !TRANSITIONAL.has(m.state)) break;
          await this.#clock.sleep(this.#healthInterval);
        }
        if (m && m.image?.digest === want.digest) {
          const health = await this.#waitHealthy(m, want);
          await this.#journal({
            type: 'outcome',
            member: id,
            op,
            ok: health.ok,
            reconciled: true,
            ...(health.reason ? { reason: health.reason } : {}),
          });
          t.member = m;
          this.#settle(t, rollback, health.ok, health.reason);
        } else {
          // The call never took effect (or fell back by itself): the member is eligible again.
          await this.#journal({
            type: 'outcome',
            member: id,
            op,
            ok: false,
            notApplied: true,
            reconciled: true,
          });
          if (m) t.member = m;
          if (rollback) t.rollback = 'none';
          else t.forward = 'pending';
          this.#cursor = 0;
          this.#rollbackCursor = 0;
        }
      });
    }
  }

  async #lookup(id: string): Promise<FleetMember | undefined> {
    if (this.#fleet.member) return this.#fleet.member(id, this.#ctx);
    return (await this.#fleet.members(this.#ctx)).find((m) => m.id === id);
  }

  async #task(t: Track, body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      if (isCrash(error)) this.#crash ??= error;
      else this.#fatal ??= error;
    } finally {
      this.#inFlight--;
      this.#activeIds.delete(t.id);
      this.#clock.wake();
    }
  }

  #settle(t: Track, rollback: boolean, ok: boolean, reason?: string): void {
    this.#o.onMember?.({
      at: this.#clock.now(),
      member: t.id,
      op: rollback ? 'rollback' : this.#compiled.action,
      phase: ok ? 'done' : 'failed',
      stage: t.stage,
      ...(reason ? { reason } : {}),
    });
    if (rollback) {
      t.rollback = ok ? 'done' : 'failed';
      return;
    }
    t.forward = ok ? 'done' : 'failed';
    if (!ok) {
      this.#failed++;
      this.#event({ type: 'member-failed', stage: t.stage, detail: `${t.id}: ${reason ?? 'failed'}` });
    }
  }

  async #waitHealthy(m: FleetMember, want: ImageRef): Promise<{ ok: boolean; reason?: string }> {
    const deadline = this.#clock.now() + this.#healthTimeout;
    for (;;) {
      if (m.image?.digest !== want.digest) {
        return {
          ok: false,
          reason: `runs ${m.image?.digest ?? 'no image'} instead of ${want.digest} (boot fell back?)`,
        };
      }
      const h = await this.#fleet.health(m, this.#ctx);
      if (h.healthy) return { ok: true };
      if (this.#clock.now() >= deadline)
        return { ok: false, reason: h.reason ?? 'not healthy before the health timeout' };
      await this.#clock.sleep(this.#healthInterval);
      const fresh = await this.#lookup(m.id);
      if (fresh) m = fresh;
    }
  }

  /** Start an action on a member: journal the intent durably, call the provider, check health, journal the outcome. */
  #launch(t: Track, rollback: boolean, surge: boolean): void {
    const op = rollback ? 'rollback' : this.#compiled.action;
    const want = rollback ? (t.from as ImageRef) : this.#target;
    if (rollback) t.rollback = 'active';
    else t.forward = 'active';
    this.#inFlight++;
    this.#activeIds.add(t.id);
    if (surge) this.#surgeInFlight++;
    this.#actions++;
    this.#o.onMember?.({ at: this.#clock.now(), member: t.id, op, phase: 'started', stage: t.stage });
    void this.#task(t, async () => {
      try {
        await this.#journal({
          type: 'intent',
          member: t.id,
          op,
          image: want.digest,
          ...(t.from ? { from: t.from.digest } : {}),
          ...(surge ? { surge: true } : {}),
        });
        let after: FleetMember;
        try {
          const useReplace = this.#compiled.action === 'replace';
          after = useReplace
            ? await (this.#fleet.replace as NonNullable<Fleet['replace']>)(t.member, want, this.#ctx)
            : await (this.#fleet.update as NonNullable<Fleet['update']>)(t.member, want, this.#ctx);
        } catch (error) {
          if (isCrash(error)) throw error;
          const reason = error instanceof Error ? error.message : String(error);
          await this.#journal({ type: 'outcome', member: t.id, op, ok: false, reason });
          this.#settle(t, rollback, false, reason);
          return;
        }
        const health = await this.#waitHealthy(after, want);
        await this.#journal({
          type: 'outcome',
          member: t.id,
          op,
          ok: health.ok,
          ...(health.reason ? { reason: health.reason } : {}),
        });
        t.member = after;
        this.#settle(t, rollback, health.ok, health.reason);
      } finally {
        if (surge) this.#surgeInFlight--;
      }
    });
  }

  async #notReady(): Promise<ReadonlyMap<string, string | undefined>> {
    if (this.#fleet.notReady) return this.#fleet.notReady(this.#ctx);
    const out = new Map<string, string | undefined>();
    for (const m of await this.#fleet.members(this.#ctx))
      if (m.state !== 'ready' && m.state !== 'gone') out.set(m.id, m.zone);
    return out;
  }

  /** Start as many actions from `queue` as the budgets, windows and strategy allow. */
  async #fill(rollback: boolean): Promise<void> {
    const now = this.#clock.now();
    if (!this.#windows.isOpen(now)) {
      this.#retryAt = Math.min(this.#retryAt, this.#windows.nextOpen(now));
      if (this.#waiting !== 'window')
        this.#event({
          type: 'window-wait',
          stage: this.#cur,
          detail: `until ${new Date(this.#windows.nextOpen(now)).toISOString()}`,
        });
      this.#waiting = 'window';
      return;
    }
    const limits = this.#budget.at(now);
    const surgeCap = this.#compiled.action === 'replace' ? this.#compiled.maxSurge : 0;
    if (limits.fleet <= 0 && surgeCap <= 0) {
      this.#retryAt = Math.min(this.#retryAt, this.#budget.nextChange(now));
      if (this.#waiting !== 'budget')
        this.#event({ type: 'budget-wait', stage: this.#cur, detail: 'no disruption allowed now' });
      this.#waiting = 'budget';
      return;
    }
    const notReady = await this.#notReady();
    let unavailable = notReady.size;
    const byZone = new Map<string, number>();
    for (const z of notReady.values()) byZone.set(z ?? '-', (byZone.get(z ?? '-') ?? 0) + 1);
    for (const id of this.#activeIds) {
      if (notReady.has(id)) continue;
      unavailable++;
      const z = (this.#tracks.get(id) as Track).zone;
      byZone.set(z, (byZone.get(z) ?? 0) + 1);
    }
    let started = 0;
    const stageCap = this.#compiled.maxUnavailable + surgeCap;
    // Look only as far as the free room could use (plus slack for members skipped for their zone).
    const room = Math.min(
      stageCap - this.#inFlight,
      limits.fleet - unavailable + surgeCap - this.#surgeInFlight,
    );
    const candidates = rollback
      ? this.#rollbackQueue()
      : this.#forwardQueue(Number.isFinite(room) ? Math.max(0, room) * 2 + 32 : 4096);
    if (candidates.length === 0) return;
    for (const t of candidates) {
      if (!rollback && this.#inFlight >= stageCap) break;
      if (notReady.has(t.id)) {
        if (rollback && t.forward === 'failed') {
          // Already down on the new image: taking it back costs no extra availability.
          this.#launch(t, rollback, false);
          started++;
          continue;
        }
        // Unavailable for reasons of its own (zone down, failing): try again later.
        this.#retryAt = Math.min(this.#retryAt, now + this.#healthInterval);
        continue;
      }
      const surge = this.#surgeInFlight < surgeCap;
      if (!surge) {
        const zoneCount = byZone.get(t.zone) ?? 0;
        if (unavailable + 1 > limits.fleet) break;
        if (zoneCount + 1 > limits.zone(t.zone)) {
          this.#retryAt = Math.min(this.#retryAt, now + this.#healthInterval);
          continue;
        }
        unavailable++;
        byZone.set(t.zone, zoneCount + 1);
        this.#maxUnavailable = Math.max(this.#maxUnavailable, unavailable);
      }
      this.#waiting = undefined;
      this.#launch(t, rollback, surge);
      started++;
    }
    const next = this.#budget.nextChange(now);
    if (started === 0 && Number.isFinite(next)) this.#retryAt = Math.min(this.#retryAt, next);
  }

  /** Pending members of the current stage, eligible now, in order (bounded scan). */
  #forwardQueue(limit: number): Track[] {
    const stage = this.#compiled.stages[this.#cur] as Stage;
    const out: Track[] = [];
    const now = this.#clock.now();
    // The cursor only moves past settled members; active ones may still come back as pending (reconcile).
    while (this.#cursor < stage.members.length) {
      const f = (this.#tracks.get(stage.members[this.#cursor] as string) as Track).forward;
      if (f === 'pending' || f === 'active') break;
      this.#cursor++;
    }
    for (let i = this.#cursor; i < stage.members.length && out.length < limit; i++) {
      if (stage.notBefore && (stage.notBefore[i] as number) > now) {
        this.#retryAt = Math.min(this.#retryAt, stage.notBefore[i] as number);
        break;
      }
      const t = this.#tracks.get(stage.members[i] as string) as Track;
      if (t.forward === 'pending') out.push(t);
    }
    return out;
  }

  #rollbackQueue(): Track[] {
    const out: Track[] = [];
    const all = this.#start.members;
    for (let i = this.#rollbackCursor; i < all.length; i++) {
      const t = this.#tracks.get(all[i]?.[0] as string) as Track;
      const settled = !this.#needsRollback(t) && t.rollback !== 'active' && t.forward !== 'active';
      if (out.length === 0 && settled && i === this.#rollbackCursor) this.#rollbackCursor = i + 1;
      if (this.#needsRollback(t)) out.push(t);
      if (out.length > 1024) break;
    }
    // Failed members first: they are down already, so taking them back frees budget for the others.
    return out.sort((a, b) => (a.forward === 'failed' ? 0 : 1) - (b.forward === 'failed' ? 0 : 1));
  }

  #needsRollback(t: Track): boolean {
    if (t.rollback !== 'none' || !t.from) return false;
    if (t.forward === 'done') return true;
    // A failed member that is still on the new image (unhealthy) goes back too.
    return t.forward === 'failed' && t.member.image?.digest === this.#target.digest;
  }

  #stageSettled(): boolean {
    const stage = this.#compiled.stages[this.#cur] as Stage;
    for (let i = this.#cursor; i < stage.members.length; i++) {
      const f = (this.#tracks.get(stage.members[i] as string) as Track).forward;
      if (f === 'pending' || f === 'active') return false;
    }
    return true;
  }

  async #halt(reason: string, rollback: boolean): Promise<void> {
    this.#view.halt = { reason, rollback };
    await this.#journal({ type: 'halt', reason, rollback });
    this.#event({ type: 'halt', stage: this.#cur, detail: reason });
  }

  async #pollControls(): Promise<void> {
    const poll = this.#o.controlPollMs ?? 1000;
    if (!Number.isFinite(poll) || this.#clock.now() < this.#nextControlPoll) return;
    this.#nextControlPoll = this.#clock.now() + poll;
    const entries = await this.#store.read(this.#o.id, this.#ctx);
    if (entries.length > this.#journalSeen) {
      const before = this.#view.halt;
      foldJournal(entries, this.#view, this.#journalSeen);
      this.#journalSeen = entries.length;
      // Only a halt someone else recorded is news: our own was announced when it was written.
      if (this.#view.halt && this.#view.halt.reason !== before?.reason)
        this.#event({ type: 'halt', stage: this.#cur, detail: this.#view.halt.reason });
    }
  }

  async #finish(status: RolloutStatus, reason?: string): Promise<RolloutResult> {
    await this.#journal({ type: 'status', status, ...(reason ? { reason } : {}) });
    this.#event({ type: 'status', detail: reason ? `${status}: ${reason}` : status });
    let updated = 0;
    let failed = 0;
    let rolledBack = 0;
    let pending = 0;
    let already = 0;
    for (const t of this.#tracks.values()) {
      if (t.rollback === 'done') rolledBack++;
      else if (t.forward === 'done') updated++;
      if (t.forward === 'failed') failed++;
      if (t.forward === 'pending') pending++;
      if (t.forward === 'already') already++;
    }
    const now = this.#clock.now();
    return {
      id: this.#o.id,
      status,
      ...(reason ? { reason } : {}),
      target: this.#target,
      ...(this.#start.previous ? { previous: this.#start.previous } : {}),
      startedAt: this.#startedAt,
      finishedAt: now,
      durationMs: now - this.#startedAt,
      members: { total: this.#tracks.size, updated, failed, rolledBack, pending, alreadyCurrent: already },
      stages: this.#stageReports,
      gates: this.#gates,
      timeline: this.#timeline,
      maxUnavailableObserved: this.#maxUnavailable,
      actions: this.#actions,
    };
  }

  async #loop(): Promise<RolloutResult> {
    const stages = this.#compiled.stages;
    for (;;) {
      if (this.#crash) throw this.#crash;
      // Cancelled (Ctrl-C): stop here; actions in flight finish in the fleet and `resume` reconciles them.
      throwIfAborted(this.#ctx);
      if (this.#fatal) {
        if (this.#inFlight > 0) {
          await this.#clock.idle(Number.POSITIVE_INFINITY, this.#busyIo > 0);
          continue;
        }
        throw this.#fatal;
      }
      await this.#pollControls();
      if (this.#clock.now() >= this.#nextRenew) {
        await this.#lease.renew(this.#leaseTtl);
        this.#nextRenew = this.#clock.now() + this.#leaseTtl / 3;
      }
      this.#retryAt = Number.POSITIVE_INFINITY;
      const v = this.#view;
      if (!v.halt && this.#failed > this.#failureThreshold) {
        await this.#halt(
          `${this.#failed} member(s) failed (threshold ${this.#failureThreshold})`,
          this.#o.spec.onFailure?.rollback ?? true,
        );
      }
      if (v.halt) {
        if (v.halt.rollback) {
          if (!this.#rollbackStarted) {
            this.#rollbackStarted = true;
            const previous = this.#start.previous;
            if (this.#o.spec.strategy.type === 'blue-green' && this.#fleet.switchTraffic && previous) {
              // Traffic goes back to the old set first: it is still up, so nobody is served by the failing image.
              await this.#fleet.switchTraffic(previous, this.#ctx);
              await this.#journal({ type: 'traffic', image: previous.digest });
              this.#event({
                type: 'traffic-switch',
                detail: `back to ${previous.version ?? previous.digest}`,
              });
            }
            this.#event({
              type: 'rollback-start',
              detail: `back to ${this.#start.previous?.version ?? this.#start.previous?.digest ?? 'the previous images'}`,
            });
          }
          await this.#fill(true);
          if (this.#inFlight === 0 && this.#rollbackQueue().length === 0)
            return this.#finish('rolled-back', v.halt.reason);
        } else if (this.#inFlight === 0) {
          return this.#finish('aborted', v.halt.reason);
        }
      } else if (v.paused) {
        if (this.#inFlight === 0) return this.#finish('paused', 'paused by an operator');
      } else if (this.#cur >= stages.length) {
        if (this.#inFlight === 0) return this.#finish('completed');
      } else {
        const before = `${this.#cur}/${this.#phase}`;
        const result = await this.#stageStep();
        if (result) return result;
        if (`${this.#cur}/${this.#phase}` !== before || this.#view.halt || this.#view.paused) continue;
      }
      if (this.#crash) throw this.#crash;
      const deadline = Math.min(
        this.#retryAt,
        this.#phase === 'bake' ? this.#bakeUntil : Number.POSITIVE_INFINITY,
        Number.isFinite(this.#o.controlPollMs ?? 1000) ? this.#nextControlPoll : Number.POSITIVE_INFINITY,
        this.#nextRenew,
      );
      await this.#clock.idle(deadline, this.#busyIo > 0);
    }
  }

  /** One pass over the current stage's state machine; returns a result when the run must stop. */
  async #stageStep(): Promise<RolloutResult | undefined> {
    const stage = this.#compiled.stages[this.#cur] as Stage;
    const report = this.#stageReports[this.#cur] as StageReport;
    if (this.#phase === 'run') {
      if (report.startedAt === undefined) {
        report.startedAt = this.#clock.now();
        this.#event({
          type: 'stage-start',
          stage: this.#cur,
          detail: `${stage.name}: ${stage.members.length} member(s)`,
        });
      }
      await this.#fill(false);
      if (this.#view.halt || !this.#stageSettled()) return undefined;
      if (this.#failed > this.#failureThreshold) return undefined;
      await this.#journal({ type: 'stage', stage: this.#cur, event: 'members-done' });
      report.membersDoneAt = this.#clock.now();
      this.#event({ type: 'stage-members-done', stage: this.#cur });
      this.#phase = 'bake';
      this.#bakeUntil = this.#clock.now() + stage.bakeMs;
    }
    if (this.#phase === 'bake') {
      if (this.#o.spec.strategy.type === 'blue-green' && this.#fleet.switchTraffic && !this.#switched) {
        // The whole new set is up: switch traffic to it, then watch it for the rollback window.
        this.#switched = true;
        await this.#fleet.switchTraffic(this.#target, this.#ctx);
        await this.#journal({ type: 'traffic', image: this.#target.digest });
        this.#event({
          type: 'traffic-switch',
          stage: this.#cur,
          detail: `to ${this.#target.version ?? this.#target.digest}`,
        });
      }
      if (this.#clock.now() < this.#bakeUntil) return undefined;
      await this.#journal({ type: 'stage', stage: this.#cur, event: 'baked' });
      if (stage.bakeMs > 0) this.#event({ type: 'bake-done', stage: this.#cur });
      this.#phase = 'gates';
    }
    if (this.#phase === 'gates') {
      if (stage.gates.length > 0) {
        if (!this.#gateTask) {
          this.#gateOutcome = undefined;
          this.#gateTask = this.#runGates(stage).finally(() => this.#clock.wake());
        }
        if (!this.#gateOutcome) return undefined;
        const outcome = this.#gateOutcome;
        this.#gateTask = undefined;
        this.#gateOutcome = undefined;
        if (outcome.phase === 'failed' || outcome.phase === 'error') {
          await this.#halt(
            `gate ${outcome.gate} ${outcome.phase}: ${outcome.reason ?? ''}`.trim(),
            this.#o.spec.onFailure?.rollback ?? true,
          );
          return undefined;
        }
        if (outcome.phase === 'inconclusive') {
          await this.#journal({ type: 'control', action: 'pause', by: `gate ${outcome.gate}` });
          this.#view.paused = true;
          return this.#finish('paused', `gate ${outcome.gate} inconclusive: ${outcome.reason ?? ''}`);
        }
      }
      await this.#journal({ type: 'stage', stage: this.#cur, event: 'gates-passed' });
      this.#phase = 'approval';
    }
    if (this.#phase === 'approval') {
      if (stage.approval && !this.#view.approved.has(this.#cur)) {
        if (this.#o.approvals === 'auto') {
          await this.#journal({ type: 'control', action: 'approve', stage: this.#cur, by: 'planner' });
          this.#view.approved.add(this.#cur);
          this.#event({ type: 'approved', stage: this.#cur, detail: 'assumed by the planner' });
        } else {
          await this.#journal({ type: 'stage', stage: this.#cur, event: 'awaiting-approval' });
          this.#event({ type: 'awaiting-approval', stage: this.#cur, detail: stage.name });
          return this.#finish(
            'waiting-approval',
            `step ${this.#cur + 1} (${stage.name}) waits for \`drover rollout approve ${this.#o.id}\``,
          );
        }
      }
      await this.#journal({ type: 'stage', stage: this.#cur, event: 'completed' });
      report.endedAt = this.#clock.now();
      this.#cur++;
      this.#cursor = 0;
      this.#phase = 'run';
    }
    return undefined;
  }

  async #runGates(stage: Stage): Promise<void> {
    try {
      for (const gate of stage.gates) {
        const result = await runAnalysis(
          gate,
          this.#gateRunner,
          {
            fleet: this.#fleet,
            stage: this.#cur,
            updated: () =>
              [...this.#tracks.values()].filter((t) => t.forward === 'done').map((t) => t.member),
            ...(this.#ctx.signal ? { signal: this.#ctx.signal } : {}),
          },
          this.#clock,
        );
        this.#gates.push(result);
        this.#event({
          type: 'gate',
          stage: this.#cur,
          detail: `${gate.name}: ${result.phase}${result.reason ? ` (${result.reason})` : ''}`,
        });
        await this.#journal({
          type: 'gate',
          stage: this.#cur,
          gate: gate.name,
          phase: result.phase,
          ...(result.reason ? { reason: result.reason } : {}),
        });
        if (result.phase !== 'successful') {
          this.#gateOutcome = result;
          return;
        }
      }
      this.#gateOutcome = { gate: '*', phase: 'successful', measurements: [] };
    } catch (error) {
      if (isCrash(error)) this.#crash ??= error;
      else this.#fatal ??= error;
    }
  }
}
