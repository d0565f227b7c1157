import type { MapEntry, YNode } from './node.js';

/**
 * Merge `over` on top of `under`, the rule for `extends` and variant overrides:
 * - mappings merge key by key, recursively; a key set to null in `over` removes it;
 * - lists append (`under` first), so inherited layers run before the recipe's own;
 * - a list or mapping tagged `!replace` replaces what it overrides instead;
 * - anything else in `over` replaces what is under it.
 * Positions stay with the nodes, so later problems point into the file that wrote the value.
 */
export function mergeNodes(under: YNode | undefined, over: YNode): YNode {
  if (under === undefined || (over.kind !== 'scalar' && over.replace)) return over;
  if (over.kind === 'map' && under.kind === 'map') {
    const entries = new Map<string, MapEntry>();
    for (const [key, e] of under.entries) entries.set(key, e);
    for (const [key, e] of over.entries) {
      if (e.value.kind === 'scalar' && e.value.value === null) {
        entries.delete(key);
        continue;
      }
      const base = entries.get(key);
      entries.set(key, base ? { key, keyPos: e.keyPos, value: mergeNodes(base.value, e.value) } : e);
    }
    return { kind: 'map', entries, pos: over.pos, replace: false };
  }
  if (over.kind === 'seq' && under.kind === 'seq') {
    return { kind: 'seq', items: [...under.items, ...over.items], pos: over.pos, replace: false };
  }
  return over;
}
