import { dump } from 'js-yaml';
import type { ResolvedRecipe } from './types.js';
import { formatMode } from './units.js';

/** A resolved recipe as YAML for people: modes shown in octal, one document per variant. */
export function formatResolvedRecipes(recipes: readonly ResolvedRecipe[]): string {
  return recipes
    .map((recipe) => {
      const readable = JSON.parse(JSON.stringify(recipe), (key, value) =>
        (key === 'mode' || key === 'dirMode') && typeof value === 'number' ? formatMode(value) : value,
      );
      return dump(readable, { lineWidth: 110, noRefs: true });
    })
    .join('---\n');
}
