import { recipeInvalidError, type ValidationReport, validateRecipe } from '@drover/recipe';
import { DroverCommand } from '../../command.js';
import { recipeArg, setFlag } from './flags.js';

export default class RecipeValidate extends DroverCommand {
  static override summary = 'Check a recipe and report every problem with file:line:col';
  static override description =
    'Parses the recipe, applies extends, expands the variants matrix, interpolates variables and validates every ' +
    'variant. All problems are reported at once; the command exits 65 when there is any.';
  static override examples = [
    '<%= config.bin %> recipe validate',
    '<%= config.bin %> recipe validate examples/edge-fleet/recipe.yaml --set channel=beta',
    '<%= config.bin %> recipe validate recipe.yaml --json',
  ];
  static override args = recipeArg;
  static override flags = { set: setFlag };

  async run(): Promise<ValidationReport> {
    const { args, flags } = await this.parse(RecipeValidate);
    const report = await validateRecipe(
      { path: args.file, env: process.env, ...(flags.set ? { set: flags.set } : {}) },
      this.context(),
    );
    if (!report.valid) throw recipeInvalidError(report.file, report.problems);
    const n = report.variants.length;
    this.log(
      `${this.style.green('ok')} ${args.file}: valid (${n} variant${n === 1 ? '' : 's'}: ${report.variants.join(', ')})`,
    );
    return report;
  }
}
