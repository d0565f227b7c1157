import { createHash } from 'node:crypto';
import { parseDuration } from './duration.js';
import { resolveQuantity } from './quantity.js';
import type { GateSpec, RolloutSpec } from './schema.js';

/** What the strategies need to know about a member. */
export interface PlanMember {
  id: string;
  region?: string;
  zone?: string;
  seed?: number;
}

/** One step of a rollout: members to change, then bake, gates and an optional approval pause. */
export interface Stage {
  name: string;
  members: string[];
  /** Earliest start per member (seeded waves), epoch ms. Members are sorted by it. */
  notBefore?: number[];
  bakeMs: number;
  gates: GateSpec[];
  approval: boolean;
}

/** Stages plus the concurrency limits the strategy sets. */
export interface CompiledStrategy {
  stages: Stage[];
  /** Disruptive actions in flight at once, fleet-wide (Infinity: only budgets limit). */
  maxUnavailable: number;
  /** Replacements that may run on surge capacity (not disruptive). */
  maxSurge: number;
  /** Per-zone limit the strategy adds (waves). */
  maxUnavailablePerZone?: number | string;
  /** Whether the strategy's actions are replacements. */
  action: 'update' | 'replace';
}

const NO_ZONE = '-';

/** The seed of a member: its own, or one derived from its id (stable across runs). */
export function seedOf(m: PlanMember): number {
  if (m.seed !== undefined) return m.seed;
  return createHash('sha256').update(m.id).digest().readUInt16BE(0) % 2048;
}

/**
 * Bottlerocket-style seeded waves, seed-relative: wave k covers seeds (s[k-1], s[k]] and a member becomes eligible
 * at t[k-1] + (t[k] - t[k-1]) * (seed - s[k-1]) / (s[k] - s[k-1]); the first wave starts at the rollout start
 * with seed bound 0; members above the last bound are eligible at once.
 */
export function seededEligibility(
  seed: number,
  waves: readonly { seed: number; at: number }[],
  startAt: number,
): number {
  let prevSeed = 0;
  let prevAt = startAt;
  for (const w of waves) {
    if (seed <= w.seed) {
      if (w.seed === prevSeed) return w.at;
      const frac = Math.max(0, seed - prevSeed) / (w.seed - prevSeed);
      return Math.round(prevAt + (w.at - prevAt) * frac);
    }
    prevSeed = w.seed;
    prevAt = w.at;
  }
  return startAt;
}

/** Interleave members across zones so a scan finds members of other zones quickly. */
function interleaveByZone(members: readonly PlanMember[]): string[] {
  const byZone = new Map<string, string[]>();
  for (const m of members) {
    const z = m.zone ?? NO_ZONE;
    let list = byZone.get(z);
    if (!list) {
      list = [];
      byZone.set(z, list);
    }
    list.push(m.id);
  }
  const lists = [...byZone.keys()].sort().map((z) => byZone.get(z) as string[]);
  const out: string[] = [];
  for (let i = 0; out.length < members.length; i++)
    for (const l of lists) if (i < l.length) out.push(l[i] as string);
  return out;
}

function order(list: readonly string[] | undefined, present: Iterable<string>): string[] {
  const all = [...new Set(present)].sort();
  const first = (list ?? []).filter((x) => all.includes(x));
  return [...first, ...all.filter((x) => !first.includes(x))];
}

/** Turn a spec's strategy into stages for these members (already-updated members excluded by the caller). */
export function compileStrategy(
  spec: RolloutSpec,
  members: readonly PlanMember[],
  total: number,
  startAt: number,
): CompiledStrategy {
  const st = spec.strategy;
  const gatesByName = new Map((spec.gates ?? []).map((g) => [g.name, g]));
  const gatesOf = (refs: string[] | undefined): GateSpec[] =>
    (refs ?? []).map((r) => gatesByName.get(r) as GateSpec);
  const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const action = spec.action ?? (st.type === 'blue-green' ? 'replace' : 'update');
  const splitApproval = (gates: GateSpec[]): { gates: GateSpec[]; approval: boolean } => ({
    gates: gates.filter((g) => g.type !== 'approval'),
    approval: gates.some((g) => g.type === 'approval'),
  });
  switch (st.type) {
    case 'rolling': {
      const g = splitApproval(gatesOf(st.gates));
      return {
        action,
        maxUnavailable: resolveQuantity(st.maxUnavailable ?? 1, total, 'down'),
        maxSurge: action === 'replace' ? resolveQuantity(st.maxSurge ?? 0, total, 'up') : 0,
        stages: [
          { name: 'rolling', members: interleaveByZone(sorted), bakeMs: parseDuration(st.bake ?? 0), ...g },
        ],
      };
    }
    case 'canary': {
      const ids = interleaveByZone(sorted);
      const stages: Stage[] = [];
      let done = 0;
      st.steps.forEach((step, i) => {
        // Percent targets round up: a 1% canary of 10 members is one member, never zero.
        const target = Math.min(
          ids.length,
          'count' in step ? step.count : Math.ceil((step.percent * ids.length) / 100),
        );
        const g = splitApproval(gatesOf(step.gates));
        stages.push({
          name: `step ${i + 1} (${'count' in step ? `${step.count} member${step.count === 1 ? '' : 's'}` : `${step.percent}%`})`,
          members: ids.slice(done, Math.max(done, target)),
          bakeMs: parseDuration(step.bake ?? 0),
          gates: g.gates,
          approval: g.approval || Boolean(step.approval),
        });
        done = Math.max(done, target);
      });
      if (done < ids.length)
        stages.push({
          name: 'promote (rest)',
          members: ids.slice(done),
          bakeMs: 0,
          gates: [],
          approval: false,
        });
      return {
        action,
        maxUnavailable: resolveQuantity(st.maxUnavailable ?? 1, total, 'down'),
        maxSurge: action === 'replace' ? resolveQuantity(st.maxSurge ?? 0, total, 'up') : 0,
        stages,
      };
    }
    case 'waves': {
      const g = splitApproval(gatesOf(st.gates));
      const regionOf = (m: PlanMember): string => m.region ?? NO_ZONE;
      const regions = order(st.regions, sorted.map(regionOf));
      const queues = regions.map((r) => {
        const inRegion = sorted.filter((m) => regionOf(m) === r);
        const zones = order(
          st.zones,
          inRegion.map((m) => m.zone ?? NO_ZONE),
        );
        return zones.map((z) => inRegion.filter((m) => (m.zone ?? NO_ZONE) === z).map((m) => m.id));
      });
      const growth = st.growth ?? 2;
      const cap =
        st.maxWaveSize !== undefined
          ? Math.max(1, resolveQuantity(st.maxWaveSize, total, 'down'))
          : Number.POSITIVE_INFINITY;
      const stages: Stage[] = [];
      let size = 1;
      let remaining = sorted.length;
      while (remaining > 0) {
        const want = Math.min(cap, Math.floor(size));
        const wave: string[] = [];
        const usedZone = new Map<number, number>();
        let progress = true;
        while (wave.length < want && progress) {
          progress = false;
          for (let r = 0; r < queues.length && wave.length < want; r++) {
            const zones = queues[r] as string[][];
            let zi = zones.findIndex((z) => z.length > 0);
            if (zi < 0) continue;
            const used = usedZone.get(r);
            if (used !== undefined && used !== zi) continue;
            if (used === undefined) usedZone.set(r, zi);
            else zi = used;
            wave.push((zones[zi] as string[]).shift() as string);
            progress = true;
          }
        }
        remaining -= wave.length;
        stages.push({
          name: `wave ${stages.length + 1}`,
          members: wave,
          bakeMs: parseDuration(st.bake ?? 0),
          ...g,
        });
        size *= growth;
      }
      return {
        action,
        maxUnavailable: Number.POSITIVE_INFINITY,
        maxSurge: 0,
        maxUnavailablePerZone: st.maxUnavailablePerZone ?? 1,
        stages,
      };
    }
    case 'blue-green': {
      const g = splitApproval(gatesOf(st.gates));
      return {
        action: 'replace',
        maxUnavailable: 0,
        maxSurge: sorted.length,
        stages: [
          {
            name: 'bring up the new set and switch',
            members: sorted.map((m) => m.id),
            bakeMs: parseDuration(st.rollbackWindow ?? '1h'),
            gates: g.gates,
            approval: g.approval || Boolean(st.approval),
          },
        ],
      };
    }
    case 'seeded': {
      const waves = st.waves.map((w) => ({
        seed: w.seed,
        at: w.start.startsWith('+') ? startAt + parseDuration(w.start.slice(1)) : Date.parse(w.start),
      }));
      const timed = sorted
        .map((m) => ({ id: m.id, at: seededEligibility(seedOf(m), waves, startAt) }))
        .sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));
      return {
        action,
        maxUnavailable: resolveQuantity(st.maxUnavailable ?? 1, total, 'down'),
        maxSurge: 0,
        stages: [
          {
            name: 'seeded waves',
            members: timed.map((t) => t.id),
            notBefore: timed.map((t) => t.at),
            bakeMs: 0,
            gates: [],
            approval: false,
          },
        ],
      };
    }
  }
}
