import type { FleetConstraints } from '@drover/core';
import { type Quantity, resolveQuantity } from './quantity.js';
import { Window } from './schedule.js';
import type { BudgetSpec } from './schema.js';

/** The built-in default budget: one member at a time, used whenever no budget is active. */
export const DEFAULT_BUDGET: Quantity = 1;

/** The limits in force at one instant. */
export interface BudgetLimits {
  /** Members that may be unavailable at once, fleet-wide. */
  fleet: number;
  /** Members of a zone that may be unavailable at once (Infinity where nothing limits the zone). */
  zone(zone: string): number;
}

export interface DisruptionBudgetOptions {
  budgets: readonly BudgetSpec[];
  defaultBudget?: Quantity;
  /** Members in the fleet when the rollout started (percent base). */
  total: number;
  /** Members per zone when the rollout started. */
  zoneSizes: ReadonlyMap<string, number>;
  /** Strategy limits: fleet-wide and per zone (e.g. maxUnavailable, maxUnavailablePerZone). */
  strategyFleet?: number;
  strategyZone?: Quantity;
  constraints?: FleetConstraints;
}

interface CompiledBudget {
  spec: BudgetSpec;
  window: Window | undefined;
}

/**
 * Disruption budgets: the minimum over every active budget applies; when no fleet-wide budget is active the
 * default budget applies (never "unlimited", unlike Karpenter's inactive schedules). Percentages round down.
 */
export class DisruptionBudget {
  readonly #o: DisruptionBudgetOptions;
  readonly #fleetBudgets: CompiledBudget[];
  readonly #zoneBudgets: CompiledBudget[];
  #cacheAt = Number.NaN;
  #cache: BudgetLimits | undefined;

  constructor(options: DisruptionBudgetOptions) {
    this.#o = options;
    const compiled = options.budgets.map((spec) => ({
      spec,
      window: spec.schedule ? new Window(spec.schedule) : undefined,
    }));
    this.#fleetBudgets = compiled.filter((b) => !b.spec.perZone && !b.spec.zones);
    this.#zoneBudgets = compiled.filter((b) => b.spec.perZone || b.spec.zones);
  }

  /** The limits at epoch milliseconds `t`. */
  at(t: number): BudgetLimits {
    if (t === this.#cacheAt && this.#cache) return this.#cache;
    const o = this.#o;
    const active = (b: CompiledBudget): boolean => !b.window || b.window.isOpen(t);
    const fleetActive = this.#fleetBudgets.filter(active);
    let fleet =
      fleetActive.length > 0
        ? Math.min(...fleetActive.map((b) => resolveQuantity(b.spec.maxUnavailable, o.total, 'down')))
        : resolveQuantity(o.defaultBudget ?? DEFAULT_BUDGET, o.total, 'down');
    if (o.strategyFleet !== undefined) fleet = Math.min(fleet, o.strategyFleet);
    if (o.constraints?.maxUnavailable !== undefined) fleet = Math.min(fleet, o.constraints.maxUnavailable);
    const zoneActive = this.#zoneBudgets.filter(active);
    const zoneCache = new Map<string, number>();
    const zoneLimit = (zone: string): number => {
      const hit = zoneCache.get(zone);
      if (hit !== undefined) return hit;
      const size = o.zoneSizes.get(zone) ?? 0;
      const applies = (b: CompiledBudget): boolean =>
        Boolean(b.spec.perZone) || (b.spec.zones ?? []).includes(zone);
      const defined = this.#zoneBudgets.filter(applies);
      const act = zoneActive.filter(applies);
      let limit = Number.POSITIVE_INFINITY;
      if (act.length > 0) {
        limit = Math.min(...act.map((b) => resolveQuantity(b.spec.maxUnavailable, size, 'down')));
      } else if (defined.length > 0) {
        limit = resolveQuantity(o.defaultBudget ?? DEFAULT_BUDGET, size, 'down');
      }
      if (o.strategyZone !== undefined)
        limit = Math.min(limit, resolveQuantity(o.strategyZone, size, 'down'));
      const c = o.constraints?.maxUnavailablePerZone?.[zone];
      if (c !== undefined) limit = Math.min(limit, c);
      zoneCache.set(zone, limit);
      return limit;
    };
    this.#cacheAt = t;
    this.#cache = { fleet, zone: zoneLimit };
    return this.#cache;
  }

  /** The next instant after `t` at which a scheduled budget opens or closes. */
  nextChange(t: number): number {
    let next = Number.POSITIVE_INFINITY;
    for (const b of [...this.#fleetBudgets, ...this.#zoneBudgets]) {
      if (b.window) next = Math.min(next, b.window.nextChange(t));
    }
    return next;
  }

  /** Whether some instant (any schedule state) allows fleet-wide disruption; used by preflight. */
  everAllowsDisruption(): boolean {
    const o = this.#o;
    const scheduled = this.#fleetBudgets.filter((b) => b.window);
    const unscheduled = this.#fleetBudgets.filter((b) => !b.window);
    const base =
      unscheduled.length > 0
        ? Math.min(...unscheduled.map((b) => resolveQuantity(b.spec.maxUnavailable, o.total, 'down')))
        : resolveQuantity(o.defaultBudget ?? DEFAULT_BUDGET, o.total, 'down');
    const best = Math.max(
      unscheduled.length > 0 || scheduled.length === 0
        ? base
        : resolveQuantity(o.defaultBudget ?? DEFAULT_BUDGET, o.total, 'down'),
      ...scheduled.map((b) =>
        Math.min(
          resolveQuantity(b.spec.maxUnavailable, o.total, 'down'),
          unscheduled.length > 0 ? base : Number.POSITIVE_INFINITY,
        ),
      ),
    );
    let limit = best;
    if (o.strategyFleet !== undefined) limit = Math.min(limit, o.strategyFleet);
    if (o.constraints?.maxUnavailable !== undefined) limit = Math.min(limit, o.constraints.maxUnavailable);
    return limit > 0;
  }
}
