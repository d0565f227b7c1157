import { relative } from 'node:path';
import { DroverError } from '@drover/core';

/** Where something is in a recipe file: 1-based line and column. */
export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

/** One thing wrong with a recipe: where it is, the path in the document, what is wrong and what to do. */
export interface RecipeProblem {
  /** File the problem is in (absolute, or `<input>` for in-memory text). */
  file: string;
  /** 1-based; 0 when the problem has no position (e.g. an unreadable file). */
  line: number;
  column: number;
  /** Path in the document, `layers[2].copy.mode`; empty for the whole document. */
  path: string;
  message: string;
  hint?: string;
  /** Short category: `yaml`, `schema`, `unknown-key`, `variable`, `extends`, `rule`, `source`, `variants`. */
  kind: RecipeProblemKind;
}

export type RecipeProblemKind =
  | 'yaml'
  | 'schema'
  | 'unknown-key'
  | 'variable'
  | 'extends'
  | 'rule'
  | 'source'
  | 'variants';

/** A document path as segments: keys and list indices. */
export type DocPath = readonly (string | number)[];

/** Render `['layers', 2, 'copy', 'mode']` as `layers[2].copy.mode`. */
export function formatPath(path: DocPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** `file:line:col path: message (hint)`, with the file shown relative to `cwd` when that is shorter. */
export function formatProblem(problem: RecipeProblem, cwd: string = process.cwd()): string {
  const file = displayFile(problem.file, cwd);
  const where = problem.line > 0 ? `${file}:${problem.line}:${problem.column}` : file;
  const path = problem.path === '' ? '' : ` ${problem.path}`;
  const hint = problem.hint ? ` (${problem.hint})` : '';
  return `${where}${path}: ${problem.message}${hint}`;
}

function displayFile(file: string, cwd: string): string {
  if (!file.startsWith('/')) return file;
  const rel = relative(cwd, file);
  return rel !== '' && rel.length < file.length ? rel : file;
}

/** Order problems by file, line, column, then path, so output is stable. */
export function sortProblems(problems: RecipeProblem[]): RecipeProblem[] {
  return [...problems].sort(
    (a, b) =>
      a.file.localeCompare(b.file) ||
      a.line - b.line ||
      a.column - b.column ||
      a.path.localeCompare(b.path) ||
      a.message.localeCompare(b.message),
  );
}

/** Drop exact duplicates (the same node reached through a YAML alias is reported once). */
export function dedupeProblems(problems: RecipeProblem[]): RecipeProblem[] {
  const seen = new Set<string>();
  const out: RecipeProblem[] = [];
  for (const p of problems) {
    const key = `${p.file}\0${p.line}\0${p.column}\0${p.path}\0${p.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  return out;
}

/** The one error a broken recipe produces: `RECIPE_INVALID` listing every problem in `details.problems`. */
export function recipeInvalidError(file: string, problems: RecipeProblem[]): DroverError {
  const sorted = sortProblems(dedupeProblems(problems));
  const count = sorted.length === 1 ? '1 problem' : `${sorted.length} problems`;
  const lines = sorted.map((p) => `  ${formatProblem(p)}`);
  return new DroverError(
    'RECIPE_INVALID',
    `${displayFile(file, process.cwd())}: ${count}\n${lines.join('\n')}`,
    {
      kind: 'input',
      hint: 'Fix the problems listed; `drover recipe schema` prints the JSON Schema your editor can use to check recipes as you type.',
      details: { file, problems: sorted },
    },
  );
}
