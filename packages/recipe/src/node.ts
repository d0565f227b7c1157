import type { DocPath, SourcePosition } from './problems.js';

// A YAML document as a tree that remembers where every value came from, so that problems found after
// `extends`, variants and variables were applied still point at the line a user wrote.

export type ScalarValue = string | number | boolean | null;

export interface ScalarNode {
  kind: 'scalar';
  value: ScalarValue;
  pos: SourcePosition;
  /** Written as a plain (unquoted) scalar: a value that is exactly `${var}` is typed like YAML would. */
  plain: boolean;
}

export interface SeqNode {
  kind: 'seq';
  items: YNode[];
  pos: SourcePosition;
  /** Tagged `!replace`: replaces an inherited list instead of appending to it. */
  replace: boolean;
}

export interface MapEntry {
  key: string;
  keyPos: SourcePosition;
  value: YNode;
}

export interface MapNode {
  kind: 'map';
  entries: Map<string, MapEntry>;
  pos: SourcePosition;
  /** Tagged `!replace`: replaces an inherited mapping instead of merging into it. */
  replace: boolean;
}

export type YNode = ScalarNode | SeqNode | MapNode;

/** The plain JavaScript value of a node (objects are created without prototype pitfalls). */
export function toValue(node: YNode): unknown {
  switch (node.kind) {
    case 'scalar':
      return node.value;
    case 'seq':
      return node.items.map(toValue);
    case 'map': {
      const out: Record<string, unknown> = {};
      for (const [key, entry] of node.entries) {
        // defineProperty, not assignment: a `__proto__` key must stay an ordinary key.
        Object.defineProperty(out, key, {
          value: toValue(entry.value),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
  }
}

/** The child of a node by key or index, if present. */
export function child(node: YNode | undefined, segment: string | number): YNode | undefined {
  if (node === undefined) return undefined;
  if (node.kind === 'seq' && typeof segment === 'number') return node.items[segment];
  if (node.kind === 'map') return node.entries.get(String(segment))?.value;
  return undefined;
}

/** A map entry's node by key (undefined for other node kinds). */
export function entry(node: YNode | undefined, key: string): MapEntry | undefined {
  return node?.kind === 'map' ? node.entries.get(key) : undefined;
}

/**
 * Where `path` is in the document: the node's own position when it exists, otherwise the position of the
 * deepest ancestor that does (a missing key is reported at the mapping that lacks it). `asKey` points at the
 * key instead of the value, which reads better for unknown keys.
 */
export function locate(root: YNode | undefined, path: DocPath, asKey = false): SourcePosition | undefined {
  let node = root;
  let pos = root?.pos;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i]!;
    if (node === undefined) break;
    if (node.kind === 'map') {
      const e = node.entries.get(String(segment));
      if (e === undefined) break;
      pos = asKey && i === path.length - 1 ? e.keyPos : e.value.pos;
      node = e.value;
    } else if (node.kind === 'seq' && typeof segment === 'number') {
      const item = node.items[segment];
      if (item === undefined) break;
      pos = item.pos;
      node = item;
    } else {
      break;
    }
  }
  return pos;
}

/** Make a scalar node. */
export function scalar(value: ScalarValue, pos: SourcePosition, plain = false): ScalarNode {
  return { kind: 'scalar', value, pos, plain };
}

/** Make a mapping node from entries. */
export function mapNode(entries: MapEntry[], pos: SourcePosition, replace = false): MapNode {
  return { kind: 'map', entries: new Map(entries.map((e) => [e.key, e])), pos, replace };
}

/** Every `(path, position)` pair in the tree, for source maps kept alongside resolved recipes. */
export function collectPositions(root: YNode, into: Record<string, SourcePosition>, prefix = ''): void {
  into[prefix] = root.pos;
  if (root.kind === 'map') {
    for (const [key, e] of root.entries) {
      const p = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key)
        ? prefix === ''
          ? key
          : `${prefix}.${key}`
        : `${prefix}[${JSON.stringify(key)}]`;
      collectPositions(e.value, into, p);
    }
  } else if (root.kind === 'seq') {
    root.items.forEach((item, i) => {
      collectPositions(item, into, `${prefix}[${i}]`);
    });
  }
}
