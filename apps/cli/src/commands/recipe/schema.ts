import { recipeJsonSchema } from '@drover/recipe';
import { DroverCommand } from '../../command.js';

export default class RecipeSchema extends DroverCommand {
  static override summary = 'Print the JSON Schema of recipes (for editors and other tools)';
  static override description =
    'The schema is generated from the definitions the validator uses. Point your editor at it with a first line ' +
    '`# yaml-language-server: $schema=<path or URL>` in recipe.yaml.';
  static override examples = ['<%= config.bin %> recipe schema > recipe.schema.json'];

  async run(): Promise<Record<string, unknown>> {
    await this.parse(RecipeSchema);
    const schema = recipeJsonSchema();
    this.log(JSON.stringify(schema, null, 2));
    return schema;
  }
}
