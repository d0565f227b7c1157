import { EVENT_ID, type Event, getScalarValue, load, parseEvents, YAMLException } from 'js-yaml';

/** A 1-based line and column in a source file. */
export interface SourcePosition {
  line: number;
  column: number;
}

/** A parsed YAML document plus the source position of every value and key, by JSON path (`a.b.0.c`). */
export interface PositionedYaml {
  value: unknown;
  /** Position of the value at a path; `''` is the root. */
  valueAt: Map<string, SourcePosition>;
  /** Position of the key that introduces a path inside a mapping. */
  keyAt: Map<string, SourcePosition>;
}

/** A YAML syntax error with its position. */
export class YamlSyntaxError {
  constructor(
    readonly message: string,
    readonly position: SourcePosition,
  ) {}
}

/** Largest spec we parse: rollout specs are small; anything bigger is a mistake. */
export const MAX_SPEC_BYTES = 1024 * 1024;

/** Offsets to 1-based line/column by binary search over line starts. */
function lineIndex(text: string): (offset: number) => SourcePosition {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (starts[lo] as number) + 1 };
  };
}

interface Frame {
  kind: 'map' | 'seq' | 'doc';
  path: string;
  index: number;
  /** For mappings: the key waiting for its value. */
  key: string | undefined;
}

const join = (base: string, part: string | number): string =>
  base === '' ? String(part) : `${base}.${part}`;

/**
 * Parse one YAML document (js-yaml 5, core schema, no aliases) and index the position of every node by path.
 * Throws YamlSyntaxError with the position of a syntax error, a duplicate key or a second document.
 */
export function parsePositionedYaml(text: string, file = '<input>'): PositionedYaml {
  const at = lineIndex(text);
  if (Buffer.byteLength(text, 'utf8') > MAX_SPEC_BYTES) {
    throw new YamlSyntaxError(`file is larger than ${MAX_SPEC_BYTES} bytes`, { line: 1, column: 1 });
  }
  let value: unknown;
  let events: Event[];
  try {
    // Aliases are refused: a rollout spec never needs them and they only hide what a step does.
    value = load(text, { filename: file, maxAliases: 0 });
    events = parseEvents(text, { filename: file, maxDepth: 32 });
  } catch (error) {
    if (error instanceof YAMLException) {
      const mark = (error as { mark?: { line: number; column: number } }).mark;
      const pos = mark ? { line: mark.line + 1, column: mark.column + 1 } : { line: 1, column: 1 };
      throw new YamlSyntaxError((error as { reason?: string }).reason ?? error.message, pos);
    }
    throw error;
  }
  const valueAt = new Map<string, SourcePosition>();
  const keyAt = new Map<string, SourcePosition>();
  const stack: Frame[] = [];
  let documents = 0;

  const place = (start: number, keyText?: string): string | undefined => {
    const top = stack[stack.length - 1];
    if (top === undefined || top.kind === 'doc') {
      valueAt.set('', at(start));
      return '';
    }
    if (top.kind === 'seq') {
      const path = join(top.path, top.index++);
      valueAt.set(path, at(start));
      return path;
    }
    if (top.key === undefined) {
      // This node is a key.
      top.key = keyText ?? '';
      keyAt.set(join(top.path, top.key), at(start));
      return undefined;
    }
    const path = join(top.path, top.key);
    top.key = undefined;
    valueAt.set(path, at(start));
    return path;
  };

  for (const event of events) {
    switch (event.type) {
      case EVENT_ID.DOCUMENT:
        documents++;
        if (documents > 1) {
          throw new YamlSyntaxError('a rollout spec file holds exactly one YAML document', {
            line: 1,
            column: 1,
          });
        }
        stack.push({ kind: 'doc', path: '', index: 0, key: undefined });
        break;
      case EVENT_ID.MAPPING:
      case EVENT_ID.SEQUENCE: {
        const path = place(event.start) ?? '\u0000';
        stack.push({ kind: event.type === EVENT_ID.MAPPING ? 'map' : 'seq', path, index: 0, key: undefined });
        break;
      }
      case EVENT_ID.SCALAR: {
        place(event.valueStart, getScalarValue(text, event));
        break;
      }
      case EVENT_ID.ALIAS:
        place(event.anchorStart);
        break;
      case EVENT_ID.POP:
        stack.pop();
        break;
    }
  }
  return { value, valueAt, keyAt };
}
