import { DroverError, didYouMean } from '@drover/core';
import type { MapNode, YNode } from './node.js';
import { type DocPath, formatPath, type RecipeProblem, type SourcePosition } from './problems.js';
import { VARIABLE_NAME } from './schema.js';

import { resolvePlain } from './yaml.js';

/** Longest value a variable may expand to (guards against exponential `${a}${a}` definitions). */
export const MAX_VARIABLE_LENGTH = 64 * 1024;
/** Longest string any interpolation may produce. */
export const MAX_INTERPOLATED_LENGTH = 1024 * 1024;

/** Prefix of environment variables that set recipe variables: `DROVER_VAR_name=value`. */
export const ENV_PREFIX = 'DROVER_VAR_';

type Piece = { text: string } | { name: string };

/** Split `a ${b} $${c}` into literal text and variable references; `$${` is a literal `${`. */
export function parseTemplate(text: string): { pieces: Piece[]; error?: string } {
  const pieces: Piece[] = [];
  let literal = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      literal += text.slice(i);
      break;
    }
    literal += text.slice(i, dollar);
    if (text.startsWith('$${', dollar)) {
      literal += '${';
      i = dollar + 3;
    } else if (text.startsWith('${', dollar)) {
      const end = text.indexOf('}', dollar + 2);
      if (end < 0)
        return { pieces, error: `unterminated variable reference at "${text.slice(dollar, dollar + 20)}"` };
      const name = text.slice(dollar + 2, end).trim();
      if (!VARIABLE_NAME.test(name))
        return { pieces, error: `"\${${name}}" is not a valid variable reference` };
      if (literal !== '') pieces.push({ text: literal });
      literal = '';
      pieces.push({ name });
      i = end + 1;
    } else {
      literal += '$';
      i = dollar + 1;
    }
  }
  if (literal !== '') pieces.push({ text: literal });
  return { pieces };
}

interface Definition {
  raw: string;
  /** Recipe variables may reference other variables; values from --set, env and axes are literal. */
  interpolate: boolean;
  pos?: SourcePosition;
  path?: DocPath;
}

export interface VariableInputs {
  /** The recipe's `variables` mapping (after extends and variant overrides). */
  recipe: MapNode | undefined;
  /** Environment; `DROVER_VAR_name` entries are used. */
  env: Record<string, string | undefined>;
  /** `--set name=value`. */
  set: Record<string, string>;
  /** Variant axis values and the variant id (`variant`); they win over everything. */
  axes: Record<string, string>;
}

const UNDEFINED_HINT = 'Define it under `variables:`, pass --set NAME=VALUE, or export DROVER_VAR_NAME.';

/** Resolve every variable to its final string; problems for cycles and bad references. */
export function resolveVariables(
  inputs: VariableInputs,
  problems: RecipeProblem[],
  file: string,
): Record<string, string> {
  const defs = new Map<string, Definition>();
  if (inputs.recipe) {
    for (const [key, e] of inputs.recipe.entries) {
      if (e.value.kind !== 'scalar' || e.value.value === null) continue; // the schema reports it
      defs.set(key, {
        raw: String(e.value.value),
        interpolate: true,
        pos: e.value.pos,
        path: ['variables', key],
      });
    }
  }
  for (const [key, value] of Object.entries(inputs.env)) {
    if (key.startsWith(ENV_PREFIX) && value !== undefined && key.length > ENV_PREFIX.length) {
      defs.set(key.slice(ENV_PREFIX.length), { raw: value, interpolate: false });
    }
  }
  for (const [key, value] of Object.entries(inputs.set)) defs.set(key, { raw: value, interpolate: false });
  for (const [key, value] of Object.entries(inputs.axes)) defs.set(key, { raw: value, interpolate: false });

  const resolved = new Map<string, string>();
  const visiting: string[] = [];
  const reported = new Set<string>();
  const report = (def: Definition | undefined, message: string, hint?: string): void => {
    const pos = def?.pos ?? { file, line: 0, column: 0 };
    const key = `${pos.file}:${pos.line}:${pos.column}:${message}`;
    if (reported.has(key)) return;
    reported.add(key);
    problems.push({
      file: pos.file,
      line: pos.line,
      column: pos.column,
      path: def?.path ? formatPath(def.path) : '',
      message,
      kind: 'variable',
      ...(hint ? { hint } : {}),
    });
  };
  const resolve = (name: string): string | undefined => {
    const done = resolved.get(name);
    if (done !== undefined) return done;
    const def = defs.get(name);
    if (def === undefined) return undefined;
    if (!def.interpolate) {
      resolved.set(name, def.raw);
      return def.raw;
    }
    if (visiting.includes(name)) {
      report(
        def,
        `variable ${name} refers to itself (${[...visiting.slice(visiting.indexOf(name)), name].join(' -> ')})`,
        'Break the cycle.',
      );
      return def.raw;
    }
    visiting.push(name);
    const { pieces, error } = parseTemplate(def.raw);
    let value = '';
    if (error) report(def, error, 'Write ${name}; use $${ for a literal "${".');
    else {
      for (const piece of pieces) {
        if ('text' in piece) value += piece.text;
        else {
          const v = resolve(piece.name);
          if (v === undefined) {
            report(def, `undefined variable \${${piece.name}}`, suggestion(piece.name, defs.keys()));
            value += `\${${piece.name}}`;
          } else value += v;
        }
        if (value.length > MAX_VARIABLE_LENGTH) {
          report(
            def,
            `variable ${name} expands to more than ${MAX_VARIABLE_LENGTH} characters`,
            'Keep variables short; put long text into a template file.',
          );
          value = value.slice(0, MAX_VARIABLE_LENGTH);
          break;
        }
      }
    }
    visiting.pop();
    resolved.set(name, value);
    return value;
  };
  for (const name of defs.keys()) resolve(name);
  return Object.fromEntries([...defs.keys()].sort().map((k) => [k, resolved.get(k)!]));
}

function suggestion(name: string, known: Iterable<string>): string {
  const s = didYouMean(name, known);
  return s ? `did you mean \${${s}}? ${UNDEFINED_HINT}` : UNDEFINED_HINT;
}

/**
 * Interpolate `${name}` in every string of the tree (keys are left alone). A plain scalar that is exactly one
 * reference is typed like YAML would type the result, so `size: ${diskSize}` can become a number.
 */
export function interpolateTree(
  node: YNode,
  variables: Record<string, string>,
  problems: RecipeProblem[],
  path: DocPath = [],
  skip: ReadonlySet<string> = new Set(),
): YNode {
  switch (node.kind) {
    case 'scalar': {
      if (typeof node.value !== 'string' || !node.value.includes('$')) return node;
      const text = node.value;
      const { pieces, error } = parseTemplate(text);
      const problem = (message: string, hint: string): void => {
        problems.push({
          file: node.pos.file,
          line: node.pos.line,
          column: node.pos.column,
          path: formatPath(path),
          message,
          hint,
          kind: 'variable',
        });
      };
      if (error) {
        problem(error, 'Write ${name}; use $${ for a literal "${".');
        return node;
      }
      let value = '';
      let failed = false;
      for (const piece of pieces) {
        if ('text' in piece) value += piece.text;
        else if (Object.hasOwn(variables, piece.name)) value += variables[piece.name];
        else {
          problem(`undefined variable \${${piece.name}}`, suggestion(piece.name, Object.keys(variables)));
          failed = true;
        }
        if (value.length > MAX_INTERPOLATED_LENGTH) {
          problem(
            `interpolation produces more than ${MAX_INTERPOLATED_LENGTH} characters`,
            'Keep values small; put long text into a template file.',
          );
          return node;
        }
      }
      if (failed) return node;
      const single = pieces.length === 1 && 'name' in pieces[0]!;
      return {
        kind: 'scalar',
        value: single && node.plain ? resolvePlain(value) : value,
        pos: node.pos,
        plain: false,
      };
    }
    case 'seq':
      return {
        ...node,
        items: node.items.map((item, i) => interpolateTree(item, variables, problems, [...path, i])),
      };
    case 'map': {
      const entries = new Map(node.entries);
      for (const [key, e] of node.entries) {
        if (path.length === 0 && skip.has(key)) continue;
        entries.set(key, { ...e, value: interpolateTree(e.value, variables, problems, [...path, key]) });
      }
      return { ...node, entries };
    }
  }
}

export interface RenderTemplateOptions {
  /** Template text with `${name}` references (`$${` for a literal `${`). */
  text: string;
  /** Variables, e.g. `ResolvedRecipe.variables`. */
  variables: Record<string, string>;
  /** Name used in error messages. */
  name?: string;
}

/** Render a `file.template` with the recipe's variables; an undefined variable is an error, never empty. */
export function renderTemplate(options: RenderTemplateOptions): string {
  const where = options.name ?? 'template';
  const { pieces, error } = parseTemplate(options.text);
  if (error)
    throw new DroverError('RECIPE_TEMPLATE_INVALID', `${where}: ${error}`, {
      hint: 'Write ${name}; use $${ for a literal "${".',
    });
  let out = '';
  for (const piece of pieces) {
    if ('text' in piece) out += piece.text;
    else if (Object.hasOwn(options.variables, piece.name)) out += options.variables[piece.name];
    else {
      throw new DroverError('RECIPE_VARIABLE_UNDEFINED', `${where}: undefined variable \${${piece.name}}`, {
        hint: suggestion(piece.name, Object.keys(options.variables)),
        details: { variable: piece.name },
      });
    }
  }
  return out;
}
