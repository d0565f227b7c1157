/**
 * JSON with object keys sorted at every level, `undefined` members dropped and bigints written as decimal strings:
 * the same value always gives the same bytes, so its digest can name it (records, cache keys).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v as Record<string, unknown>).sort()) {
        const member = (v as Record<string, unknown>)[k];
        if (member !== undefined) sorted[k] = member;
      }
      return sorted;
    }
    return v;
  });
}
