import { formatResolvedRecipes, loadRecipe, type ResolvedRecipe } from '@drover/recipe';
import { DroverCommand } from '../../command.js';
import { recipeArg, setFlag, variantFlag } from './flags.js';

export default class RecipeShow extends DroverCommand {
  static override summary =
    'Print the fully resolved recipe: extends, variant overrides, variables and defaults applied';
  static override examples = [
    '<%= config.bin %> recipe show',
    '<%= config.bin %> recipe show examples/edge-fleet/recipe.yaml --variant aarch64-debug',
    '<%= config.bin %> recipe show --json',
  ];
  static override args = recipeArg;
  static override flags = { set: setFlag, variant: variantFlag };

  async run(): Promise<ResolvedRecipe[]> {
    const { args, flags } = await this.parse(RecipeShow);
    const loaded = await loadRecipe(
      {
        path: args.file,
        env: process.env,
        ...(flags.set ? { set: flags.set } : {}),
        ...(flags.variant ? { variants: flags.variant } : {}),
      },
      this.context(),
    );
    this.log(formatResolvedRecipes(loaded.recipes).trimEnd());
    return loaded.recipes;
  }
}
