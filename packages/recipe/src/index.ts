export { formatResolvedRecipes } from './format.js';
export { loadRecipe, parseSetOptions, validateRecipe } from './load.js';
export {
  diffLockfiles,
  digestTree,
  formatLockChanges,
  LOCKFILE_NAME,
  lockRecipe,
  readLockfile,
  serializeLockfile,
} from './lock.js';
export type { RecipeProblem, RecipeProblemKind, SourcePosition } from './problems.js';
export { formatPath, formatProblem, recipeInvalidError } from './problems.js';
export { deriveSalt } from './resolve.js';
export { API_VERSION, KIND, recipeJsonSchema, verityHashBytes } from './schema.js';
export type { RenderSettingsOptions, SettingsValue } from './settings.js';
export { mergeSettings, renderSettings } from './settings.js';
export type {
  BaseLock,
  BaseResolver,
  DiskLayout,
  FilesystemType,
  LoadedRecipe,
  LoadRecipeOptions,
  LockChange,
  Lockfile,
  LockRecipeOptions,
  LockResult,
  Platform,
  ResolvedBase,
  ResolvedDisk,
  ResolvedFilesystem,
  ResolvedLayer,
  ResolvedOutput,
  ResolvedRecipe,
  ResolvedVerity,
  SourceLock,
  ValidateRecipeOptions,
  ValidationReport,
  VariantCombination,
} from './types.js';
export type { Owner } from './units.js';
export { formatMode, formatSize, parseMode, parseSize } from './units.js';
export type { RenderTemplateOptions } from './variables.js';
export { ENV_PREFIX, renderTemplate } from './variables.js';
export type { ExpandVariantsOptions, VariantsSpec } from './variants.js';
export { expandVariants } from './variants.js';
