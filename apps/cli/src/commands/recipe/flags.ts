import { Args, Flags } from '@oclif/core';

// Arguments and flags shared by the `drover recipe` commands.

export const recipeArg = {
  file: Args.string({ description: 'Recipe file', default: 'recipe.yaml' }),
};

export const setFlag = Flags.string({
  summary: 'Set a recipe variable: name=value (repeatable; wins over DROVER_VAR_name and the recipe).',
  multiple: true,
});

export const variantFlag = Flags.string({
  summary: 'Only this variant id (repeatable; default: every variant).',
  multiple: true,
});
