import { loadRecipe } from '@drover/recipe';
import { DroverCommand } from '../../command.js';
import { recipeArg, setFlag } from './flags.js';

/** One entry of a GitHub Actions matrix: the variant id, its axis values, name and version. */
export type MatrixEntry = Record<string, string>;

export default class RecipeMatrix extends DroverCommand {
  static override summary =
    "List a recipe's variants; with --json, an `include` list ready for a GitHub Actions matrix";
  static override examples = [
    '<%= config.bin %> recipe matrix examples/edge-fleet/recipe.yaml',
    'echo "matrix=$(<%= config.bin %> recipe matrix --json)" >> "$GITHUB_OUTPUT"',
  ];
  static override args = recipeArg;
  static override flags = { set: setFlag };

  async run(): Promise<{ include: MatrixEntry[] }> {
    const { args, flags } = await this.parse(RecipeMatrix);
    const loaded = await loadRecipe(
      { path: args.file, env: process.env, ...(flags.set ? { set: flags.set } : {}) },
      this.context(),
    );
    const include = loaded.recipes.map((r) => ({
      ...r.variant,
      variant: r.id,
      name: r.metadata.name,
      version: r.metadata.version,
    }));
    const width = Math.max(...include.map((e) => e.variant.length));
    for (const [i, entry] of include.entries()) {
      const axes = Object.entries(loaded.recipes[i]!.variant)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      this.log(
        `${entry.variant.padEnd(width)}  ${entry.name} ${entry.version}${axes ? this.style.dim(`  ${axes}`) : ''}`,
      );
    }
    return { include };
  }
}
