import {
  boolCoreTag,
  EVENT_ID,
  type Event,
  floatCoreTag,
  getScalarValue,
  intCoreTag,
  NOT_RESOLVED,
  nullCoreTag,
  parseEvents,
  SCALAR_STYLE,
  type ScalarEvent,
  YAMLException,
} from 'js-yaml';
import type { MapEntry, MapNode, ScalarNode, ScalarValue, SeqNode, YNode } from './node.js';
import type { RecipeProblem, SourcePosition } from './problems.js';

/** Largest recipe file we parse; recipes are small, anything bigger is a mistake or an attack. */
export const MAX_SOURCE_BYTES = 4 * 1024 * 1024;
/** Upper bound on the size of the document once aliases are expanded (billion-laughs guard). */
export const MAX_EXPANDED_WEIGHT = 200_000;
/** Upper bound on nesting, counting what aliases bring in. */
export const MAX_DEPTH = 64;

export interface ParsedYaml {
  root: YNode | undefined;
  problems: RecipeProblem[];
}

/** Offsets to 1-based line/column. */
export class LineIndex {
  private readonly starts: number[] = [0];
  constructor(
    private readonly file: string,
    text: string,
  ) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }

  at(offset: number): SourcePosition {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { file: this.file, line: lo + 1, column: offset - this.starts[lo]! + 1 };
  }
}

class FatalYaml extends Error {}

interface Frame {
  node: MapNode | SeqNode;
  weight: number;
  height: number;
  depth: number;
  /** For mappings: the key waiting for its value (`null` when the next event is a key). */
  pendingKey: { key: string; keyPos: SourcePosition; merge: boolean } | null;
  /** A key that was not a scalar: its value is skipped. */
  skipValue: boolean;
  /** Expecting a key, but the key is a collection being built (its result is discarded). */
  merges: YNode[];
  mergePos: SourcePosition[];
}

interface Metrics {
  weight: number;
  height: number;
}

/**
 * Parse one YAML document into a positioned tree. Never throws: syntax errors, duplicate keys, unknown or
 * recursive aliases and documents that expand beyond the limits come back as problems.
 */
export function parseYaml(text: string, file: string): ParsedYaml {
  const problems: RecipeProblem[] = [];
  const lines = new LineIndex(file, text);
  const problem = (pos: SourcePosition, message: string, hint?: string): void => {
    problems.push({
      file,
      line: pos.line,
      column: pos.column,
      path: '',
      message,
      kind: 'yaml',
      ...(hint ? { hint } : {}),
    });
  };
  if (Buffer.byteLength(text, 'utf8') > MAX_SOURCE_BYTES) {
    problem(
      { file, line: 1, column: 1 },
      `file is larger than ${MAX_SOURCE_BYTES / (1024 * 1024)} MiB`,
      'A recipe describes an image; keep large files as sources next to it and `copy` them.',
    );
    return { root: undefined, problems };
  }
  let events: Event[];
  try {
    events = parseEvents(text, { filename: file, maxDepth: MAX_DEPTH });
  } catch (error) {
    if (error instanceof YAMLException && error.mark) {
      problem(
        { file, line: error.mark.line + 1, column: error.mark.column + 1 },
        `YAML: ${error.reason}`,
        yamlHint(error.reason),
      );
    } else {
      const message = error instanceof Error ? error.message : String(error);
      problem({ file, line: 1, column: 1 }, `YAML: ${message}`);
    }
    return { root: undefined, problems };
  }

  const anchors = new Map<string, YNode>();
  const open = new Set<YNode>();
  const metrics = new WeakMap<YNode, Metrics>();
  const stack: Frame[] = [];
  let root: YNode | undefined;
  let documents = 0;
  let total = 0;

  const addWeight = (w: number, pos: SourcePosition): void => {
    total += w;
    if (total > MAX_EXPANDED_WEIGHT) {
      problem(
        pos,
        'the document expands to too much data through aliases (possible "billion laughs" attack)',
        `Keep recipes small: at most ${MAX_EXPANDED_WEIGHT} values once aliases are expanded.`,
      );
      throw new FatalYaml();
    }
  };

  const attach = (node: YNode, m: Metrics, pos: SourcePosition): void => {
    const top = stack[stack.length - 1];
    if (top === undefined) {
      root = node;
      return;
    }
    if (top.depth + m.height > MAX_DEPTH) {
      problem(pos, `nesting deeper than ${MAX_DEPTH} levels (counting aliases)`, 'Flatten the document.');
      throw new FatalYaml();
    }
    top.weight += m.weight;
    top.height = Math.max(top.height, m.height + 1);
    if (top.node.kind === 'seq') {
      top.node.items.push(node);
      return;
    }
    // Mapping: this node is either a key or a value.
    if (top.pendingKey === null && !top.skipValue) {
      if (node.kind !== 'scalar') {
        problem(pos, 'mapping keys must be plain strings', 'Write `key: value` with a scalar key.');
        top.skipValue = true;
        return;
      }
      const key = node.value === null ? 'null' : String(node.value);
      const merge = key === '<<' && node.plain;
      top.pendingKey = { key, keyPos: node.pos, merge };
      return;
    }
    if (top.skipValue) {
      top.skipValue = false;
      return;
    }
    const pending = top.pendingKey!;
    top.pendingKey = null;
    if (pending.merge) {
      top.merges.push(node);
      top.mergePos.push(pending.keyPos);
      return;
    }
    const existing = top.node.entries.get(pending.key);
    if (existing) {
      problem(
        pending.keyPos,
        `duplicate key "${pending.key}" (first defined at line ${existing.keyPos.line})`,
        'Each key may appear once in a mapping; remove or merge the duplicates.',
      );
      return;
    }
    top.node.entries.set(pending.key, { key: pending.key, keyPos: pending.keyPos, value: node });
  };

  const anchorOf = (e: { anchorStart: number; anchorEnd: number }): string | undefined =>
    e.anchorStart >= 0 ? text.slice(e.anchorStart, e.anchorEnd) : undefined;
  const tagOf = (e: { tagStart: number; tagEnd: number }): string | undefined =>
    e.tagStart >= 0 ? text.slice(e.tagStart, e.tagEnd) : undefined;

  const collectionTag = (tag: string | undefined, kind: 'seq' | 'map', pos: SourcePosition): boolean => {
    if (tag === undefined || tag === '!') return false;
    if (tag === '!replace') return true;
    if ((kind === 'seq' && tag === '!!seq') || (kind === 'map' && tag === '!!map')) return false;
    problem(
      pos,
      `unsupported YAML tag ${tag}`,
      'Recipes use plain YAML; the only custom tag is !replace on a list or mapping.',
    );
    return false;
  };

  try {
    for (const event of events) {
      switch (event.type) {
        case EVENT_ID.DOCUMENT:
          documents++;
          if (documents === 2) {
            problem(
              lines.at(text.search(/^---/m) >= 0 ? lastDocumentStart(text) : 0),
              'a recipe file holds exactly one YAML document',
              'Remove the extra `---` document; use `extends` to share parts between recipes.',
            );
          }
          break;
        case EVENT_ID.MAPPING:
        case EVENT_ID.SEQUENCE: {
          const pos = lines.at(event.start);
          const kind = event.type === EVENT_ID.MAPPING ? 'map' : 'seq';
          const replace = collectionTag(
            tagOf(event),
            kind,
            lines.at(event.tagStart >= 0 ? event.tagStart : event.start),
          );
          const node: MapNode | SeqNode =
            kind === 'map'
              ? { kind: 'map', entries: new Map<string, MapEntry>(), pos, replace }
              : { kind: 'seq', items: [], pos, replace };
          const anchor = anchorOf(event);
          if (anchor !== undefined) anchors.set(anchor, node);
          open.add(node);
          addWeight(1, pos);
          stack.push({
            node,
            weight: 1,
            height: 0,
            depth: (stack[stack.length - 1]?.depth ?? 0) + 1,
            pendingKey: null,
            skipValue: false,
            merges: [],
            mergePos: [],
          });
          break;
        }
        case EVENT_ID.POP: {
          const frame = stack.pop();
          if (frame === undefined) break; // end of a document
          open.delete(frame.node);
          if (frame.node.kind === 'map') applyMerges(frame, problem);
          const m = { weight: frame.weight, height: frame.height };
          metrics.set(frame.node, m);
          attach(frame.node, m, frame.node.pos);
          break;
        }
        case EVENT_ID.SCALAR: {
          // Quoted scalars: point at the opening quote, where the user sees the value start.
          const quoted =
            event.style === SCALAR_STYLE.SINGLE_QUOTED || event.style === SCALAR_STYLE.DOUBLE_QUOTED;
          const pos = lines.at(quoted ? Math.max(0, event.valueStart - 1) : event.valueStart);
          const node = buildScalar(text, event, tagOf(event), pos, problem);
          const anchor = anchorOf(event);
          if (anchor !== undefined) anchors.set(anchor, node);
          const m = { weight: 1 + Math.floor(String(node.value).length / 64), height: 0 };
          metrics.set(node, m);
          addWeight(m.weight, pos);
          attach(node, m, pos);
          break;
        }
        case EVENT_ID.ALIAS: {
          const name = text.slice(event.anchorStart, event.anchorEnd);
          const pos = lines.at(Math.max(0, event.anchorStart - 1));
          const target = anchors.get(name);
          if (target === undefined) {
            problem(
              pos,
              `unknown alias *${name}`,
              'Define the anchor (&name) before using the alias (*name).',
            );
            throw new FatalYaml();
          }
          if (open.has(target)) {
            problem(
              pos,
              `recursive alias *${name} refers to a node that contains it`,
              'An alias cannot point at one of its own parents.',
            );
            throw new FatalYaml();
          }
          const m = metrics.get(target) ?? { weight: 1, height: 0 };
          addWeight(m.weight, pos);
          attach(target, m, pos);
          break;
        }
      }
    }
  } catch (error) {
    if (error instanceof FatalYaml) return { root: undefined, problems };
    throw error;
  }
  if (root === undefined && problems.length === 0) {
    problem(
      { file, line: 1, column: 1 },
      'the file is empty',
      'Start from `drover recipe schema` or an example in examples/.',
    );
  }
  return { root, problems };
}

function lastDocumentStart(text: string): number {
  const matches = [...text.matchAll(/^---/gm)];
  return matches.length > 1 ? matches[1]!.index : (matches[0]?.index ?? 0);
}

function applyMerges(
  frame: Frame,
  problem: (pos: SourcePosition, message: string, hint?: string) => void,
): void {
  const node = frame.node as MapNode;
  frame.merges.forEach((source, i) => {
    const sources = source.kind === 'seq' ? source.items : [source];
    for (const s of sources) {
      if (s.kind !== 'map') {
        problem(
          frame.mergePos[i]!,
          'a merge key (<<) needs a mapping or a list of mappings',
          'Write `<<: *anchor` where &anchor names a mapping.',
        );
        continue;
      }
      for (const [key, e] of s.entries) if (!node.entries.has(key)) node.entries.set(key, e);
    }
  });
}

const LEADING_ZERO = /^[-+]?0[0-9]+$/;

function buildScalar(
  text: string,
  event: ScalarEvent,
  tag: string | undefined,
  pos: SourcePosition,
  problem: (pos: SourcePosition, message: string, hint?: string) => void,
): ScalarNode {
  const source = getScalarValue(text, event);
  const plain = event.style === SCALAR_STYLE.PLAIN;
  let value: ScalarValue = source;
  if (tag !== undefined && tag !== '!') {
    const resolved = resolveTagged(tag, source);
    if (resolved === NOT_RESOLVED) {
      problem(pos, `cannot read ${JSON.stringify(source)} as ${tag}`, 'Remove the tag or fix the value.');
    } else if (resolved === UNSUPPORTED) {
      problem(
        pos,
        `unsupported YAML tag ${tag}`,
        tag === '!replace'
          ? '!replace applies to a list or a mapping, not a single value.'
          : 'Recipes use plain YAML; the only custom tag is !replace on a list or mapping.',
      );
    } else {
      value = resolved;
    }
    return { kind: 'scalar', value, pos, plain: false };
  }
  if (plain) value = resolvePlain(source);
  return { kind: 'scalar', value, pos, plain };
}

/** How YAML 1.2 (core schema) types a plain scalar, except that `0644` stays text so modes read as written. */
export function resolvePlain(source: string): ScalarValue {
  if (LEADING_ZERO.test(source)) return source;
  for (const tag of [nullCoreTag, boolCoreTag, intCoreTag, floatCoreTag] as const) {
    const r = tag.resolve(source, false, tag.tagName);
    if (r !== NOT_RESOLVED) return r as ScalarValue;
  }
  return source;
}

const UNSUPPORTED = Symbol('unsupported');

function resolveTagged(tag: string, source: string): ScalarValue | typeof NOT_RESOLVED | typeof UNSUPPORTED {
  const name = tag.startsWith('!!')
    ? tag.slice(2)
    : tag.startsWith('!<tag:yaml.org,2002:')
      ? tag.slice(20, -1)
      : '';
  switch (name) {
    case 'str':
      return source;
    case 'int':
      return intCoreTag.resolve(source, true, intCoreTag.tagName);
    case 'float': {
      const r = floatCoreTag.resolve(source, true, floatCoreTag.tagName);
      return r === NOT_RESOLVED ? intCoreTag.resolve(source, true, intCoreTag.tagName) : r;
    }
    case 'bool':
      return boolCoreTag.resolve(source, true, boolCoreTag.tagName);
    case 'null':
      return nullCoreTag.resolve(source, true, nullCoreTag.tagName);
    default:
      return UNSUPPORTED;
  }
}

function yamlHint(reason: string): string | undefined {
  if (/tab/i.test(reason)) return 'Indent with spaces; YAML does not allow tabs for indentation.';
  if (/indent/i.test(reason)) return 'Line the key up with its siblings (same number of spaces).';
  if (/duplicat/i.test(reason)) return 'Each key may appear once in a mapping.';
  return undefined;
}
