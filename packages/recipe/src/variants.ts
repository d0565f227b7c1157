import { DroverError, didYouMean } from '@drover/core';

import type { VariantCombination } from './types.js';

/** Most variants one recipe may expand to. */
export const MAX_VARIANTS = 256;

/** The `variants` section of a recipe, as plain data. */
export interface VariantsSpec {
  /** Axis name → list of values, or value → overrides (the overrides do not matter for the expansion). */
  matrix: Record<string, readonly string[] | Record<string, unknown>>;
  exclude?: Record<string, string>[];
}

export interface ExpandVariantsOptions {
  variants?: VariantsSpec;
}

export interface MatrixProblem {
  path: (string | number)[];
  message: string;
  hint: string;
}

/** Axis values in declaration order. */
export function axisValues(axis: readonly string[] | Record<string, unknown>): string[] {
  return Array.isArray(axis) ? [...axis] : Object.keys(axis);
}

/** Expand a matrix and report problems instead of throwing (used by the loader to attach positions). */
export function expandMatrix(spec: VariantsSpec | undefined): {
  combinations: VariantCombination[];
  problems: MatrixProblem[];
} {
  const problems: MatrixProblem[] = [];
  if (spec === undefined) return { combinations: [{ id: 'default', values: {} }], problems };
  const axes = Object.entries(spec.matrix).map(([name, values]) => [name, axisValues(values)] as const);
  if (axes.length === 0) {
    problems.push({
      path: ['variants', 'matrix'],
      message: 'the matrix has no axes',
      hint: 'Add an axis such as `arch: [x86_64, aarch64]`, or remove variants.',
    });
  }
  for (const [name, values] of axes) {
    if (name === 'variant') {
      problems.push({
        path: ['variants', 'matrix', name],
        message: '"variant" is reserved for the variant id',
        hint: 'Name the axis differently, e.g. flavor.',
      });
    }
    const seen = new Set<string>();
    values.forEach((value, i) => {
      if (seen.has(value))
        problems.push({
          path: ['variants', 'matrix', name, i],
          message: `value ${value} is listed twice`,
          hint: 'Remove the duplicate.',
        });
      seen.add(value);
    });
  }
  let total = 1;
  for (const [, values] of axes) total *= Math.max(values.length, 1);
  if (total > MAX_VARIANTS) {
    problems.push({
      path: ['variants', 'matrix'],
      message: `the matrix expands to ${total} variants (at most ${MAX_VARIANTS})`,
      hint: 'Split the recipe or exclude combinations.',
    });
    return { combinations: [], problems };
  }
  const axisNames = axes.map(([n]) => n);
  const excludes = spec.exclude ?? [];
  excludes.forEach((rule, i) => {
    for (const [key, value] of Object.entries(rule)) {
      const axis = axes.find(([n]) => n === key);
      if (!axis) {
        const s = didYouMean(key, axisNames);
        problems.push({
          path: ['variants', 'exclude', i, key],
          message: `exclude names unknown axis ${key}`,
          hint: s ? `did you mean "${s}"?` : `Axes are ${axisNames.join(', ')}.`,
        });
      } else if (!axis[1].includes(value)) {
        const s = didYouMean(value, axis[1]);
        problems.push({
          path: ['variants', 'exclude', i, key],
          message: `exclude names unknown ${key} value ${value}`,
          hint: s ? `did you mean "${s}"?` : `Values are ${axis[1].join(', ')}.`,
        });
      }
    }
  });
  let combinations: Record<string, string>[] = [{}];
  for (const [name, values] of axes) {
    combinations = combinations.flatMap((c) => values.map((v) => ({ ...c, [name]: v })));
  }
  const kept = combinations.filter(
    (c) =>
      !excludes.some(
        (rule) => Object.keys(rule).length > 0 && Object.entries(rule).every(([k, v]) => c[k] === v),
      ),
  );
  if (kept.length === 0 && axes.length > 0) {
    problems.push({
      path: ['variants', 'exclude'],
      message: 'every combination is excluded',
      hint: 'Loosen the exclude rules.',
    });
  }
  return {
    combinations: kept.map((values) => ({ id: axisNames.map((n) => values[n]).join('-'), values })),
    problems,
  };
}

/** Expand a recipe's variants matrix into combinations with stable ids (values joined by `-` in axis order). */
export function expandVariants(options: ExpandVariantsOptions): VariantCombination[] {
  const { combinations, problems } = expandMatrix(options.variants);
  if (problems.length > 0) {
    throw new DroverError(
      'RECIPE_VARIANTS_INVALID',
      problems.map((p) => `${p.path.join('.')}: ${p.message}`).join('; '),
      {
        hint: problems[0]!.hint,
        details: { problems },
      },
    );
  }
  return combinations;
}
