import {
  type Context,
  DroverError,
  type Fleet,
  type FleetConstraints,
  type FleetMember,
  type HealthResult,
  type ImageRef,
  type Lease,
  type StateStore,
} from '@drover/core';
import { defaultGateRunner, type GateRunner } from './analysis.js';
import type { VirtualClock } from './clock.js';
import type { FleetExtensions } from './engine.js';

/** A fault the simulator injects. Members are chosen by id list or by zone. */
export type SimFault =
  | { type: 'fail-boot'; members?: string[]; zone?: string }
  | { type: 'unhealthy'; members?: string[]; zone?: string }
  | { type: 'flapping'; members?: string[]; zone?: string }
  | { type: 'slow'; members?: string[]; zone?: string; factor: number }
  | { type: 'zone-down'; zone: string; atMs: number; durationMs: number }
  | { type: 'gate'; gate: string; stage?: number; result: 'failed' | 'inconclusive' | 'error' };

export interface SimMemberSpec {
  id: string;
  region?: string;
  zone?: string;
  seed?: number;
  image?: ImageRef;
}

export interface SimulatedFleetOptions {
  clock: VirtualClock;
  members: SimMemberSpec[];
  /** Time an update or replacement takes, including the reboot (ms). */
  updateMs: number;
  faults?: SimFault[];
  constraints?: FleetConstraints;
  id?: string;
  /** Which actions the fleet supports (default both). */
  supports?: { update?: boolean; replace?: boolean };
}

/** A disruption the fleet saw begin: for checking budgets after the fact. */
export interface DisruptionRecord {
  at: number;
  member: string;
  zone: string;
  /** Members not ready right after this one went down, fleet-wide and in its zone. */
  unavailable: number;
  zoneUnavailable: number;
  /** The member was unavailable already (down zone, unhealthy): this change took nothing more away. */
  alreadyUnavailable: boolean;
}

interface SimMember {
  id: string;
  region?: string;
  zone: string;
  seed?: number;
  image?: ImageRef;
  state: FleetMember['state'];
  flapping: boolean;
  flapCount: number;
}

const NO_ZONE = '-';

/**
 * An in-memory fleet on a virtual clock: updates take `updateMs` (times a slow factor), may fail to boot (fall back
 * to the old image, like A/B), come up unhealthy or flap; zones can go down. It records every disruption and any
 * protocol violation (an update of a member already updating or already on the image).
 */
export class SimulatedFleet implements Fleet, FleetExtensions {
  readonly id: string;
  readonly #o: SimulatedFleetOptions;
  readonly #members = new Map<string, SimMember>();
  readonly #notReady = new Map<string, string>();
  readonly #notReadyByZone = new Map<string, number>();
  readonly #zoneDown = new Set<string>();
  readonly #zoneMembers = new Map<string, string[]>();
  readonly #faultOf = new Map<string, SimFault[]>();
  /** Calls that started changing a member, per member and image digest. */
  readonly updates = new Map<string, number>();
  readonly disruptions: DisruptionRecord[] = [];
  readonly violations: string[] = [];
  maxSurgeInUse = 0;
  #surgeInUse = 0;
  update?: Fleet['update'];
  replace?: Fleet['replace'];

  constructor(options: SimulatedFleetOptions) {
    this.#o = options;
    this.id = options.id ?? 'simulated';
    for (const m of options.members) {
      const zone = m.zone ?? NO_ZONE;
      this.#members.set(m.id, {
        id: m.id,
        zone,
        ...(m.region ? { region: m.region } : {}),
        ...(m.seed !== undefined ? { seed: m.seed } : {}),
        ...(m.image ? { image: m.image } : {}),
        state: 'ready',
        flapping: false,
        flapCount: 0,
      });
      let list = this.#zoneMembers.get(zone);
      if (!list) {
        list = [];
        this.#zoneMembers.set(zone, list);
      }
      list.push(m.id);
    }
    for (const f of options.faults ?? []) {
      if (f.type === 'zone-down') {
        options.clock.schedule(options.clock.now() + f.atMs, () => this.#zoneDown.add(f.zone));
        options.clock.schedule(options.clock.now() + f.atMs + f.durationMs, () =>
          this.#zoneDown.delete(f.zone),
        );
        continue;
      }
      if (f.type === 'gate') continue;
      const ids = f.members ?? (f.zone ? (this.#zoneMembers.get(f.zone) ?? []) : []);
      for (const id of ids) {
        let list = this.#faultOf.get(id);
        if (!list) {
          list = [];
          this.#faultOf.set(id, list);
        }
        list.push(f);
      }
    }
    if (options.supports?.update !== false) this.update = (m, image) => this.#change(m, image, false);
    if (options.supports?.replace !== false) this.replace = (m, image) => this.#change(m, image, true);
  }

  #view(m: SimMember): FleetMember {
    const state = this.#zoneDown.has(m.zone) && m.state === 'ready' ? 'unavailable' : m.state;
    return {
      id: m.id,
      state,
      ...(m.zone !== NO_ZONE ? { zone: m.zone } : {}),
      ...(m.region ? { region: m.region } : {}),
      ...(m.seed !== undefined ? { seed: m.seed } : {}),
      ...(m.image ? { image: m.image } : {}),
    };
  }

  async members(): Promise<FleetMember[]> {
    return [...this.#members.values()].map((m) => this.#view(m));
  }

  async member(id: string): Promise<FleetMember | undefined> {
    const m = this.#members.get(id);
    return m ? this.#view(m) : undefined;
  }

  async notReady(): Promise<ReadonlyMap<string, string | undefined>> {
    if (this.#zoneDown.size === 0) return this.#notReady;
    const out = new Map(this.#notReady);
    for (const z of this.#zoneDown) for (const id of this.#zoneMembers.get(z) ?? []) out.set(id, z);
    return out;
  }

  /** Members not ready now (including down zones), fleet-wide and per zone. */
  unavailableNow(): { total: number; byZone: Map<string, number> } {
    const byZone = new Map<string, number>();
    let total = 0;
    for (const m of this.#members.values()) {
      if (m.state === 'ready' && !this.#zoneDown.has(m.zone)) continue;
      total++;
      byZone.set(m.zone, (byZone.get(m.zone) ?? 0) + 1);
    }
    return { total, byZone };
  }

  #isoAt = Number.NaN;
  #iso = '';
  async health(member: FleetMember): Promise<HealthResult> {
    const m = this.#members.get(member.id);
    const now = this.#o.clock.now();
    if (now !== this.#isoAt) {
      this.#isoAt = now;
      this.#iso = new Date(now).toISOString();
    }
    const checkedAt = this.#iso;
    if (!m) return { healthy: false, reason: 'no such member', checkedAt };
    if (this.#zoneDown.has(m.zone)) return { healthy: false, reason: `zone ${m.zone} is down`, checkedAt };
    if (m.state !== 'ready') return { healthy: false, reason: m.state, checkedAt };
    if (m.flapping) {
      m.flapCount++;
      if (m.flapCount % 2 === 0) return { healthy: false, reason: 'health check flapped', checkedAt };
    }
    return { healthy: true, checkedAt };
  }

  async constraints(): Promise<FleetConstraints> {
    return this.#o.constraints ?? {};
  }

  #setState(m: SimMember, state: FleetMember['state']): void {
    m.state = state;
    const was = this.#notReady.has(m.id);
    if (state === 'ready') this.#notReady.delete(m.id);
    else this.#notReady.set(m.id, m.zone);
    const is = state !== 'ready';
    if (was !== is) this.#notReadyByZone.set(m.zone, (this.#notReadyByZone.get(m.zone) ?? 0) + (is ? 1 : -1));
  }

  #change(member: FleetMember, image: ImageRef, replace: boolean): Promise<FleetMember> {
    const m = this.#members.get(member.id);
    if (!m)
      return Promise.reject(
        new DroverError('SIM_NO_MEMBER', `no member ${member.id}`, { kind: 'not-found' }),
      );
    if (m.state === 'updating' || m.state === 'replacing') {
      this.violations.push(`${m.id}: changed while already ${m.state}`);
    } else if (m.image?.digest === image.digest) {
      this.violations.push(`${m.id}: changed to ${image.digest.slice(0, 15)} which it already runs`);
    }
    const key = `${m.id} ${image.digest}`;
    this.updates.set(key, (this.updates.get(key) ?? 0) + 1);
    const faults = this.#faultOf.get(m.id) ?? [];
    // Faults hit the new image only: going back to the old image (rollback) works.
    const forward = faults.length > 0 && m.image?.digest !== image.digest && !this.#isOld(image, m);
    const slow = forward
      ? faults.find((f): f is Extract<SimFault, { type: 'slow' }> => f.type === 'slow')
      : undefined;
    const duration = Math.round(this.#o.updateMs * (slow?.factor ?? 1));
    const surge = replace && this.#surgeInUse < (this.#o.constraints?.surgeCapacity ?? 0);
    const previous = m.image;
    if (surge) {
      this.#surgeInUse++;
      this.maxSurgeInUse = Math.max(this.maxSurgeInUse, this.#surgeInUse);
    } else {
      const alreadyUnavailable = m.state !== 'ready' || this.#zoneDown.has(m.zone);
      this.#setState(m, replace ? 'replacing' : 'updating');
      const u = this.unavailableNowFast(m.zone);
      this.disruptions.push({
        at: this.#o.clock.now(),
        member: m.id,
        zone: m.zone,
        unavailable: u.total,
        zoneUnavailable: u.zone,
        alreadyUnavailable,
      });
    }
    return new Promise((resolve) => {
      this.#o.clock.schedule(this.#o.clock.now() + duration, () => {
        if (surge) this.#surgeInUse--;
        const has = (t: SimFault['type']): boolean => forward && faults.some((f) => f.type === t);
        if (has('fail-boot')) {
          if (previous) m.image = previous;
          this.#setState(m, 'ready');
        } else {
          m.image = image;
          this.#setState(m, has('unhealthy') ? 'unhealthy' : 'ready');
          m.flapping = has('flapping');
        }
        resolve(this.#view(m));
      });
    });
  }

  /** The image a member had before the rollout: faults never apply to returning there. */
  readonly #original = new Map<string, string | undefined>();
  #isOld(image: ImageRef, m: SimMember): boolean {
    if (!this.#original.has(m.id)) this.#original.set(m.id, m.image?.digest);
    return this.#original.get(m.id) === image.digest;
  }

  private unavailableNowFast(zone: string): { total: number; zone: number } {
    let total = this.#notReady.size;
    let inZone = this.#notReadyByZone.get(zone) ?? 0;
    for (const z of this.#zoneDown) {
      for (const id of this.#zoneMembers.get(z) ?? []) {
        if (this.#notReady.has(id)) continue;
        total++;
        if (z === zone) inZone++;
      }
    }
    return { total, zone: inZone };
  }
}

/** Gates in a simulation: health gates look at the simulated fleet; others succeed unless a `gate` fault says not. */
export function simulatedGateRunner(faults: readonly SimFault[] = []): GateRunner {
  return async (gate, ctx) => {
    const fault = faults.find(
      (f): f is Extract<SimFault, { type: 'gate' }> =>
        f.type === 'gate' && f.gate === gate.name && (f.stage === undefined || f.stage === ctx.stage),
    );
    if (fault) {
      if (fault.result === 'error') throw new Error('simulated measurement error');
      return { result: fault.result, reason: 'injected by the simulation' };
    }
    if (gate.type === 'health') return defaultGateRunner(gate, ctx);
    return { result: 'successful' };
  };
}

/** Thrown by a crashed controller's store and fleet: the process is gone. */
export class ControllerCrash extends Error {
  override readonly name = 'ControllerCrash';
}

/**
 * Wraps a store and a fleet so the controller "crashes" at its n-th step (journal append or provider call),
 * either before the step takes effect or right after; afterwards every call fails, as if the process had died.
 */
export class CrashInjector {
  #steps = 0;
  #dead = false;
  readonly store: StateStore;
  readonly fleet: Fleet & FleetExtensions;

  constructor(
    store: StateStore,
    fleet: Fleet & FleetExtensions,
    readonly crashAt: number,
    readonly when: 'before' | 'after' = 'before',
  ) {
    const self = this;
    this.store = {
      id: store.id,
      async append(id, entry, ctx?: Context) {
        self.#check();
        if (self.#step()) {
          if (self.when === 'after') await store.append(id, entry, ctx);
          self.#die();
        }
        return store.append(id, entry, ctx);
      },
      async read(id, ctx?: Context) {
        self.#check();
        return store.read(id, ctx);
      },
      async acquire(id, holder, ttl, ctx?: Context): Promise<Lease> {
        self.#check();
        const lease = await store.acquire(id, holder, ttl, ctx);
        return {
          holder: lease.holder,
          get expiresAt() {
            return lease.expiresAt;
          },
          release: async () => {
            self.#check();
            return lease.release();
          },
          renew: async (t) => {
            self.#check();
            return lease.renew(t);
          },
        };
      },
    };
    const wrapChange = (fn: NonNullable<Fleet['update']> | undefined): Fleet['update'] =>
      fn
        ? async (m, image, ctx) => {
            self.#check();
            if (self.#step()) {
              if (self.when === 'after') void fn.call(fleet, m, image, ctx);
              self.#die();
            }
            return fn.call(fleet, m, image, ctx);
          }
        : undefined;
    const wrapped: Fleet & FleetExtensions = {
      id: fleet.id,
      members: async (ctx) => {
        self.#check();
        return fleet.members(ctx);
      },
      health: async (m, ctx) => {
        self.#check();
        return fleet.health(m, ctx);
      },
    };
    const update = wrapChange(fleet.update);
    const replace = wrapChange(fleet.replace);
    if (update) wrapped.update = update;
    if (replace) wrapped.replace = replace;
    if (fleet.constraints)
      wrapped.constraints = async (ctx) =>
        (fleet.constraints as NonNullable<Fleet['constraints']>).call(fleet, ctx);
    if (fleet.notReady)
      wrapped.notReady = async (ctx) => {
        self.#check();
        return (fleet.notReady as NonNullable<FleetExtensions['notReady']>).call(fleet, ctx);
      };
    if (fleet.member)
      wrapped.member = async (id, ctx) => {
        self.#check();
        return (fleet.member as NonNullable<FleetExtensions['member']>).call(fleet, id, ctx);
      };
    this.fleet = wrapped;
  }

  /** Whether the crash happened. */
  get crashed(): boolean {
    return this.#dead;
  }
  /** Steps taken so far. */
  get steps(): number {
    return this.#steps;
  }

  #check(): void {
    if (this.#dead) throw new ControllerCrash('controller crashed');
  }
  #step(): boolean {
    this.#steps++;
    return this.#steps === this.crashAt;
  }
  #die(): never {
    this.#dead = true;
    throw new ControllerCrash(`controller crashed at step ${this.#steps} (${this.when})`);
  }
}
