import { didYouMean } from '@drover/core';
import type * as z from 'zod';
import { child, locate, type YNode } from './node.js';
import { type DocPath, formatPath, type RecipeProblem, type RecipeProblemKind } from './problems.js';
import { HINT_SEPARATOR } from './schema.js';

type Issue = z.core.$ZodIssue;

/** Turn zod issues into recipe problems with file positions from the document tree. */
export function issuesToProblems(
  issues: readonly Issue[],
  root: YNode | undefined,
  schema: z.ZodType,
  fallbackFile: string,
  prefix: DocPath = [],
): RecipeProblem[] {
  const out: RecipeProblem[] = [];
  const make = (
    path: DocPath,
    message: string,
    hint: string | undefined,
    kind: RecipeProblemKind,
    asKey = false,
  ): void => {
    const pos = locate(root, path, asKey) ?? { file: fallbackFile, line: 0, column: 0 };
    out.push({
      file: pos.file,
      line: pos.line,
      column: pos.column,
      path: formatPath(path),
      message,
      kind,
      ...(hint ? { hint } : {}),
    });
  };
  const visit = (issue: Issue, base: DocPath): void => {
    const path = [...base, ...(issue.path as (string | number)[])];
    const [custom, customHint] = splitMessage(issue.message);
    const paramHint =
      issue.code === 'custom' ? (issue.params as { hint?: string } | undefined)?.hint : undefined;
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = knownKeysAt(schema, [...prefix, ...path], root);
        for (const key of issue.keys) {
          const suggestion = didYouMean(key, known);
          const hint = suggestion
            ? `did you mean "${suggestion}"?`
            : known.length > 0
              ? `known keys here: ${known.join(', ')}`
              : undefined;
          make([...path, key], `unknown key "${key}"`, hint, 'unknown-key', true);
        }
        return;
      }
      case 'invalid_union': {
        const branch = bestBranch(issue.errors);
        if (branch) {
          for (const sub of branch) visit(sub, path);
          return;
        }
        make(
          path,
          customHint !== undefined ? custom : 'value does not match any allowed form',
          customHint,
          'schema',
        );
        return;
      }
      case 'invalid_type': {
        const node = nodeAt(root, path);
        if (node === undefined && !(issue.expected === 'undefined')) {
          const key = path[path.length - 1];
          make(path.slice(0, -1), `missing required key "${String(key)}"`, customHint, 'schema', true);
          return;
        }
        const got = describe(node);
        if (customHint !== undefined) make(path, `${custom}, got ${got}`, customHint, 'schema');
        else make(path, `expected ${article(issue.expected)}, got ${got}`, undefined, 'schema');
        return;
      }
      case 'invalid_value': {
        if (customHint !== undefined) {
          make(path, custom, customHint, 'schema');
          return;
        }
        const values = issue.values.map((v) => String(v));
        const node = nodeAt(root, path);
        const actual = node?.kind === 'scalar' ? String(node.value) : '';
        const suggestion = actual === '' ? undefined : didYouMean(actual, values);
        make(
          path,
          values.length === 1
            ? `must be ${values[0]}`
            : `must be one of ${values.join(', ')}, got ${describe(node)}`,
          suggestion ? `did you mean "${suggestion}"?` : undefined,
          'schema',
        );
        return;
      }
      case 'invalid_key': {
        for (const sub of issue.issues) {
          const [m, h] = splitMessage(sub.message);
          make(path, `invalid key: ${m}`, h, 'schema', true);
        }
        return;
      }
      case 'invalid_element': {
        for (const sub of issue.issues) visit(sub, path);
        return;
      }
      case 'too_small':
      case 'too_big': {
        if (customHint !== undefined) {
          make(path, custom, customHint, 'schema');
          return;
        }
        const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
        const word = issue.code === 'too_small' ? 'at least' : 'at most';
        const what =
          issue.origin === 'array'
            ? `${bound} item${Number(bound) === 1 ? '' : 's'}`
            : issue.origin === 'string'
              ? `${bound} character${Number(bound) === 1 ? '' : 's'}`
              : String(bound);
        make(
          path,
          issue.origin === 'number' || issue.origin === 'int'
            ? `must be ${word} ${what}`
            : `needs ${word} ${what}`,
          undefined,
          'schema',
        );
        return;
      }
      case 'custom':
        make(path, custom, customHint ?? paramHint, 'rule');
        return;
      default:
        make(path, customHint !== undefined ? custom : issue.message, customHint, 'schema');
    }
  };
  for (const issue of issues) visit(issue, prefix);
  return out;
}

function splitMessage(message: string): [string, string | undefined] {
  const i = message.indexOf(HINT_SEPARATOR);
  return i < 0 ? [message, undefined] : [message.slice(0, i), message.slice(i + 1)];
}

/** The union branch the user evidently meant: its value type matched (no issue at the branch root). */
function bestBranch(errors: Issue[][]): Issue[] | undefined {
  let best: Issue[] | undefined;
  for (const branch of errors) {
    if (branch.length === 0) continue;
    const rootMismatch = branch.some(
      (i) =>
        i.path.length === 0 &&
        (i.code === 'invalid_type' || i.code === 'invalid_value' || i.code === 'invalid_union'),
    );
    if (rootMismatch) continue;
    if (best === undefined || branch.length < best.length) best = branch;
  }
  return best;
}

function nodeAt(root: YNode | undefined, path: DocPath): YNode | undefined {
  let node = root;
  for (const segment of path) node = child(node, segment);
  return node;
}

function describe(node: YNode | undefined): string {
  if (node === undefined) return 'nothing';
  if (node.kind === 'map') return 'a mapping';
  if (node.kind === 'seq') return 'a list';
  const v = node.value;
  if (v === null) return 'null';
  if (typeof v === 'string') return `"${v.length > 40 ? `${v.slice(0, 37)}...` : v}"`;
  return `${typeof v} ${String(v)}`;
}

function article(expected: string): string {
  if (expected === 'object') return 'a mapping';
  if (expected === 'array') return 'a list';
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

// ---------------------------------------------------------------------------------------------------------
// Which keys a schema allows at a path, for did-you-mean on unknown keys. Walks the zod definitions.

type AnyDef = { type: string; [k: string]: unknown };

function defOf(schema: unknown): AnyDef | undefined {
  const def = (schema as { def?: AnyDef } | undefined)?.def;
  return def && typeof def.type === 'string' ? def : undefined;
}

function unwrap(schema: unknown, depth = 0): unknown[] {
  const def = defOf(schema);
  if (!def || depth > 20) return [];
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
      return unwrap(def.innerType, depth + 1);
    case 'pipe':
      return unwrap(def.in, depth + 1);
    case 'lazy':
      return unwrap((def.getter as () => unknown)(), depth + 1);
    case 'union':
      return (def.options as unknown[]).flatMap((o) => unwrap(o, depth + 1));
    default:
      return [schema];
  }
}

function step(schemas: unknown[], segment: string | number): unknown[] {
  const next: unknown[] = [];
  for (const s of schemas) {
    const def = defOf(s)!;
    if (def.type === 'object' && typeof segment === 'string') {
      const shape = def.shape as Record<string, unknown>;
      if (Object.hasOwn(shape, segment)) next.push(...unwrap(shape[segment]));
    } else if (def.type === 'array' && typeof segment === 'number') {
      next.push(...unwrap(def.element));
    } else if (def.type === 'record') {
      next.push(...unwrap(def.valueType));
    }
  }
  return next;
}

/** Keys the schema knows for the mapping at `path`. */
export function knownKeysAt(schema: z.ZodType, path: DocPath, _root?: YNode): string[] {
  let current = unwrap(schema);
  for (const segment of path) current = step(current, segment);
  const keys = new Set<string>();
  for (const s of current) {
    const def = defOf(s)!;
    if (def.type === 'object') for (const k of Object.keys(def.shape as object)) keys.add(k);
  }
  return [...keys];
}
