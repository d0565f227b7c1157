import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mergeNodes } from './merge.js';
import { toValue, type YNode } from './node.js';

const pos = { file: 'f', line: 1, column: 1 };

function fromValue(v: unknown, replace = false): YNode {
  if (Array.isArray(v)) return { kind: 'seq', items: v.map((x) => fromValue(x)), pos, replace };
  if (typeof v === 'object' && v !== null) {
    return {
      kind: 'map',
      entries: new Map(Object.entries(v).map(([key, x]) => [key, { key, keyPos: pos, value: fromValue(x) }])),
      pos,
      replace,
    };
  }
  return { kind: 'scalar', value: v as string, pos, plain: true };
}

/** The documented rules on plain values: maps merge, lists append, null removes, anything else replaces. */
function reference(under: unknown, over: unknown): unknown {
  const isMap = (x: unknown): x is Record<string, unknown> =>
    typeof x === 'object' && x !== null && !Array.isArray(x);
  if (isMap(under) && isMap(over)) {
    const out: Record<string, unknown> = { ...under };
    for (const [k, v] of Object.entries(over)) {
      if (v === null) delete out[k];
      else out[k] = k in under ? reference(under[k], v) : v;
    }
    return out;
  }
  if (Array.isArray(under) && Array.isArray(over)) return [...under, ...over];
  return over;
}

const key = fc.constantFrom('a', 'b', 'c', 'layers');
const tree = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.integer(),
    fc.string({ maxLength: 3 }),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    tie('map'),
  ),
  map: fc.dictionary(key, tie('value'), { maxKeys: 3 }),
}));

describe('mergeNodes', () => {
  it('follows the documented extends rules (property)', () => {
    fc.assert(
      fc.property(tree.map, tree.map, (under, over) => {
        expect(toValue(mergeNodes(fromValue(under), fromValue(over)))).toEqual(reference(under, over));
      }),
    );
  });

  it('!replace replaces lists and mappings instead of merging', () => {
    const under = fromValue({ list: [1, 2], map: { a: 1, b: 2 } });
    const over: YNode = {
      kind: 'map',
      entries: new Map([
        ['list', { key: 'list', keyPos: pos, value: fromValue([3], true) }],
        ['map', { key: 'map', keyPos: pos, value: fromValue({ c: 3 }, true) }],
      ]),
      pos,
      replace: false,
    };
    expect(toValue(mergeNodes(under, over))).toEqual({ list: [3], map: { c: 3 } });
  });
});
