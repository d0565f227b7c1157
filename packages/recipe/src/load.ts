import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import {
  type Context,
  DroverError,
  didYouMean,
  resolveContext,
  throwIfAborted,
  toDroverError,
} from '@drover/core';
import { issuesToProblems, knownKeysAt } from './issues.js';
import { mergeNodes } from './merge.js';
import { collectPositions, entry, locate, type MapNode, toValue, type YNode } from './node.js';
import {
  dedupeProblems,
  formatPath,
  type RecipeProblem,
  recipeInvalidError,
  type SourcePosition,
  sortProblems,
} from './problems.js';
import { resolveRecipe } from './resolve.js';
import { Recipe, RecipeFragment, Variants } from './schema.js';

import type {
  LoadedRecipe,
  LoadRecipeOptions,
  ResolvedRecipe,
  ValidateRecipeOptions,
  ValidationReport,
  VariantCombination,
} from './types.js';
import { interpolateTree, resolveVariables } from './variables.js';
import { expandMatrix, type VariantsSpec } from './variants.js';
import { MAX_SOURCE_BYTES, parseYaml } from './yaml.js';

/** How deep `extends` chains may go. */
export const MAX_EXTENDS_DEPTH = 16;

interface Analysis {
  file: string;
  files: string[];
  problems: RecipeProblem[];
  matrix: VariantCombination[];
  recipes: ResolvedRecipe[];
  positions: Record<string, Record<string, SourcePosition>>;
}

/**
 * Load a recipe: parse it with positions, apply `extends`, expand the variants matrix, interpolate variables
 * and validate every variant. Throws one `RECIPE_INVALID` error listing every problem.
 */
export async function loadRecipe(options: LoadRecipeOptions, ctx: Context = {}): Promise<LoadedRecipe> {
  const analysis = await analyze({ path: options.path, set: options.set, env: options.env }, ctx);
  if (analysis.problems.length > 0) throw recipeInvalidError(analysis.file, analysis.problems);
  let recipes = analysis.recipes;
  if (options.variants !== undefined && options.variants.length > 0) {
    const ids = analysis.matrix.map((c) => c.id);
    for (const wanted of options.variants) {
      if (!ids.includes(wanted)) {
        const s = didYouMean(wanted, ids);
        throw new DroverError(
          'RECIPE_VARIANT_NOT_FOUND',
          `no variant ${JSON.stringify(wanted)} in ${analysis.file}`,
          {
            kind: 'not-found',
            hint: s ? `Did you mean ${s}? Variants: ${ids.join(', ')}.` : `Variants: ${ids.join(', ')}.`,
            details: { variants: ids },
          },
        );
      }
    }
    recipes = recipes.filter((r) => options.variants!.includes(r.id));
  }
  const positions = Object.fromEntries(recipes.map((r) => [r.id, analysis.positions[r.id]!]));
  return { file: analysis.file, files: analysis.files, recipes, matrix: analysis.matrix, positions };
}

/** Check a recipe (a file, or in-memory `text`) and report every problem instead of throwing. */
export async function validateRecipe(
  options: ValidateRecipeOptions,
  ctx: Context = {},
): Promise<ValidationReport> {
  const analysis = await analyze(options, ctx);
  const problems = sortProblems(dedupeProblems(analysis.problems));
  return {
    file: analysis.file,
    valid: problems.length === 0,
    problems,
    variants: analysis.matrix.map((c) => c.id),
  };
}

/** Normalize `--set` input into a record; throws `RECIPE_SET_INVALID` (a usage error) for malformed pairs. */
export function parseSetOptions(set: Record<string, string> | string[] | undefined): Record<string, string> {
  if (set === undefined) return {};
  if (!Array.isArray(set)) return { ...set };
  const out: Record<string, string> = {};
  for (const pair of set) {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? '' : pair.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new DroverError('RECIPE_SET_INVALID', `--set expects name=value, got ${JSON.stringify(pair)}`, {
        kind: 'usage',
        hint: 'For example --set version=1.2.0 (names are letters, digits and _).',
      });
    }
    out[name] = pair.slice(eq + 1);
  }
  return out;
}

function parseSourceDateEpoch(env: Record<string, string | undefined>): number | undefined {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return undefined;
  if (!/^[0-9]{1,15}$/.test(raw)) {
    throw new DroverError(
      'SOURCE_DATE_EPOCH_INVALID',
      `SOURCE_DATE_EPOCH must be a whole number of seconds, got ${JSON.stringify(raw)}`,
      {
        kind: 'usage',
        hint: 'Set it to a Unix timestamp, e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct).',
      },
    );
  }
  return Number(raw);
}

async function analyze(options: ValidateRecipeOptions, ctx: Context): Promise<Analysis> {
  const log = resolveContext(ctx).logger;
  const file = options.path !== undefined ? resolvePath(options.path) : '<input>';
  const set = parseSetOptions(options.set);
  const env = options.env ?? {};
  const envSourceDateEpoch = parseSourceDateEpoch(env);
  const problems: RecipeProblem[] = [];
  const files: string[] = [];
  const empty: Analysis = { file, files, problems, matrix: [], recipes: [], positions: {} };

  const root = await loadTree(file, options.text, [], problems, files, ctx, undefined);
  if (root === undefined) return empty;

  // The variants section: validate its structure (overrides are checked once merged into each variant).
  const variantsEntry = root.entries.get('variants');
  const base: MapNode = { ...root, entries: new Map(root.entries) };
  base.entries.delete('variants');
  let matrix: VariantCombination[] = [{ id: 'default', values: {} }];
  const fragments = new Map<string, { node: YNode; path: (string | number)[] }>();
  if (variantsEntry !== undefined) {
    const node = variantsEntry.value;
    const skeleton = emptyFragments(node, fragments);
    const parsed = Variants.safeParse(toValue(skeleton));
    if (!parsed.success) {
      problems.push(...issuesToProblems(parsed.error.issues, root, Recipe, file, ['variants']));
      matrix = [];
    } else {
      const expanded = expandMatrix(parsed.data as VariantsSpec);
      for (const p of expanded.problems) {
        const pos = locate(root, p.path) ?? { file, line: 0, column: 0 };
        problems.push({
          ...pos,
          path: formatPath(p.path),
          message: p.message,
          hint: p.hint,
          kind: 'variants',
        });
      }
      matrix = expanded.combinations;
    }
    // Overrides may only touch what a variant can change (not apiVersion, kind, extends or variants).
    // Unknown keys are left to the schema, which sees them once merged into the variant.
    const allowed = knownKeysAt(RecipeFragment, []);
    const recipeKeys = knownKeysAt(Recipe, []);
    for (const { node: fragment, path } of fragments.values()) {
      if (fragment.kind !== 'map') continue;
      for (const [key, e] of fragment.entries) {
        if (allowed.includes(key) || !recipeKeys.includes(key)) continue;
        problems.push({
          ...e.keyPos,
          path: formatPath([...path, key]),
          message: `${key} cannot be overridden by a variant`,
          hint: `Variants may override ${allowed.join(', ')}.`,
          kind: 'variants',
        });
      }
    }
  }

  const recipes: ResolvedRecipe[] = [];
  const positions: Record<string, Record<string, SourcePosition>> = {};
  for (const combination of matrix) {
    throwIfAborted(ctx);
    let tree: YNode = base;
    for (const [axis, value] of Object.entries(combination.values)) {
      const fragment = fragments.get(`${axis}\0${value}`)?.node;
      if (fragment !== undefined && fragment.kind === 'map') tree = mergeNodes(tree, fragment);
    }
    const axes = variantsEntry === undefined ? {} : { ...combination.values, variant: combination.id };
    const variablesNode = tree.kind === 'map' ? tree.entries.get('variables')?.value : undefined;
    const variables = resolveVariables(
      { recipe: variablesNode?.kind === 'map' ? variablesNode : undefined, env, set, axes },
      problems,
      file,
    );
    const interpolated = interpolateTree(tree, variables, problems, [], new Set(['variables']));
    const pos: Record<string, SourcePosition> = {};
    collectPositions(interpolated, pos);
    positions[combination.id] = pos;
    const result = Recipe.safeParse(toValue(interpolated));
    if (!result.success) {
      problems.push(...issuesToProblems(result.error.issues, interpolated, Recipe, file));
      continue;
    }
    const recipe = resolveRecipe({
      parsed: result.data,
      tree: interpolated,
      file,
      files: [...files],
      id: combination.id,
      axes: combination.values,
      variables,
      ...(envSourceDateEpoch === undefined ? {} : { envSourceDateEpoch }),
    });
    await checkSources(recipe, interpolated, problems);
    recipes.push(recipe);
  }
  log.debug('recipe analysed', { file, variants: matrix.length, problems: problems.length });
  return { file, files, problems, matrix, recipes, positions };
}

/** The variants section with every override replaced by an empty mapping (remembering the overrides). */
function emptyFragments(
  variants: YNode,
  fragments: Map<string, { node: YNode; path: (string | number)[] }>,
): YNode {
  const matrix = entry(variants, 'matrix')?.value;
  if (variants.kind !== 'map' || matrix?.kind !== 'map') return variants;
  const newMatrix: MapNode = { ...matrix, entries: new Map(matrix.entries) };
  for (const [axis, e] of matrix.entries) {
    if (e.value.kind !== 'map') continue;
    const values: MapNode = { ...e.value, entries: new Map() };
    for (const [value, v] of e.value.entries) {
      fragments.set(`${axis}\0${value}`, { node: v.value, path: ['variants', 'matrix', axis, value] });
      const emptied: YNode =
        v.value.kind === 'map'
          ? { kind: 'map', entries: new Map(), pos: v.value.pos, replace: false }
          : v.value;
      values.entries.set(value, { ...v, value: emptied });
    }
    newMatrix.entries.set(axis, { ...e, value: values });
  }
  const out: MapNode = { ...variants, entries: new Map(variants.entries) };
  out.entries.set('matrix', { ...out.entries.get('matrix')!, value: newMatrix });
  return out;
}

async function loadTree(
  file: string,
  text: string | undefined,
  stack: string[],
  problems: RecipeProblem[],
  files: string[],
  ctx: Context,
  from: { pos: SourcePosition; path: string } | undefined,
): Promise<MapNode | undefined> {
  throwIfAborted(ctx);
  let source = text;
  if (source === undefined) {
    try {
      const info = await stat(file);
      if (!info.isFile()) {
        // Directories, devices and FIFOs are never recipes (reading /dev/zero would never end).
        const message = `${file} is ${info.isDirectory() ? 'a directory' : 'not a regular file'}`;
        if (!from)
          throw new DroverError('RECIPE_NOT_FOUND', message, {
            kind: 'not-found',
            hint: 'Pass the recipe file, e.g. recipe.yaml.',
          });
        problems.push({
          ...from.pos,
          path: from.path,
          message,
          hint: 'extends names a recipe file, not a folder.',
          kind: 'extends',
        });
        return undefined;
      }
      if (info.size > MAX_SOURCE_BYTES) source = ' '.repeat(MAX_SOURCE_BYTES + 1);
      else source = await readFile(file, 'utf8');
    } catch (error) {
      if (error instanceof DroverError) throw error;
      const e = toDroverError(error, 'reading recipe');
      if (!from) {
        if (e.code === 'FILE_NOT_FOUND') {
          throw new DroverError('RECIPE_NOT_FOUND', `recipe not found: ${file}`, {
            kind: 'not-found',
            hint: 'Check the path; drover looks for recipe.yaml in the current directory when none is given.',
            cause: error,
          });
        }
        throw e;
      }
      problems.push({
        ...from.pos,
        path: from.path,
        message: `cannot read ${file}: ${e.message}`,
        hint: 'extends paths are relative to the file that names them.',
        kind: 'extends',
      });
      return undefined;
    }
  }
  files.push(file);
  const parsed = parseYaml(source, file);
  problems.push(...parsed.problems);
  const root = parsed.root;
  if (root === undefined) return undefined;
  if (root.kind !== 'map') {
    problems.push({
      ...root.pos,
      path: '',
      message: 'a recipe is a mapping of keys (apiVersion, kind, metadata, base, …)',
      hint: 'Start from an example in examples/ or `drover recipe schema`.',
      kind: 'schema',
    });
    return undefined;
  }
  const ext = root.entries.get('extends');
  if (ext === undefined) return root;
  const child: MapNode = { ...root, entries: new Map(root.entries) };
  child.entries.delete('extends');
  const items =
    ext.value.kind === 'seq'
      ? ext.value.items.map((n, i) => [n, `extends[${i}]`] as const)
      : [[ext.value, 'extends'] as const];
  let merged: YNode | undefined;
  for (const [node, path] of items) {
    if (node.kind !== 'scalar' || typeof node.value !== 'string' || node.value === '') {
      problems.push({
        ...node.pos,
        path,
        message: 'extends takes a file path or a list of file paths',
        hint: 'For example `extends: ../common/base.yaml`.',
        kind: 'extends',
      });
      continue;
    }
    const parentFile = resolvePath(file === '<input>' ? process.cwd() : dirname(file), node.value);
    if (parentFile === file || stack.includes(parentFile)) {
      const chain = [...stack, file, parentFile].map((f) => f.split('/').pop()).join(' -> ');
      problems.push({
        ...node.pos,
        path,
        message: `extends cycle: ${chain}`,
        hint: 'A recipe cannot extend itself, directly or through others.',
        kind: 'extends',
      });
      continue;
    }
    if (stack.length + 1 >= MAX_EXTENDS_DEPTH) {
      problems.push({
        ...node.pos,
        path,
        message: `extends chain deeper than ${MAX_EXTENDS_DEPTH}`,
        hint: 'Flatten the chain of recipes.',
        kind: 'extends',
      });
      continue;
    }
    const parent = await loadTree(parentFile, undefined, [...stack, file], problems, files, ctx, {
      pos: node.pos,
      path,
    });
    if (parent !== undefined) merged = merged === undefined ? parent : mergeNodes(merged, parent);
  }
  return merged === undefined ? child : (mergeNodes(merged, child) as MapNode);
}

async function checkSources(recipe: ResolvedRecipe, tree: YNode, problems: RecipeProblem[]): Promise<void> {
  for (let i = 0; i < recipe.layers.length; i++) {
    const layer = recipe.layers[i]!;
    if (layer.type !== 'copy' && layer.type !== 'template') continue;
    const path = layer.type === 'copy' ? ['layers', i, 'copy', 'from'] : ['layers', i, 'file', 'template'];
    const pos = locate(tree, path) ?? { file: recipe.file, line: 0, column: 0 };
    try {
      const info = await stat(layer.source);
      if (layer.type === 'template' && !info.isFile()) {
        problems.push({
          ...pos,
          path: formatPath(path),
          message: `template ${layer.from} is not a file`,
          hint: 'Point template at a text file next to the recipe.',
          kind: 'source',
        });
      }
    } catch {
      problems.push({
        ...pos,
        path: formatPath(path),
        message: `source ${layer.from} does not exist (looked for ${layer.source})`,
        hint: 'Sources are relative to the recipe file that names them.',
        kind: 'source',
      });
    }
  }
}
