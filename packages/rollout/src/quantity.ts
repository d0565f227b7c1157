/** A member count in a spec: an absolute number or a percentage such as `25%`. */
export type Quantity = number | string;

/** The textual percentage form. */
export const PERCENT_PATTERN = /^(?:\d+(?:\.\d+)?)%$/;

/**
 * Resolve a count or percentage against a total with Kubernetes rounding: `round: 'up'` for surge, `'down'` for
 * unavailability (so a percentage never allows more disruption than written).
 */
export function resolveQuantity(q: Quantity, total: number, round: 'up' | 'down'): number {
  if (typeof q === 'number') return Math.max(0, Math.floor(q));
  const pct = Number(q.slice(0, -1));
  // Work in integer hundredths to avoid 0.1+0.2 style surprises (e.g. 30% of 10 must be exactly 3).
  const scaled = Math.round(pct * 100) * total;
  return round === 'up' ? Math.ceil(scaled / 10_000) : Math.floor(scaled / 10_000);
}
