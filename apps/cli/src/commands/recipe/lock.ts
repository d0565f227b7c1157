import { formatLockChanges, type LockResult, lockRecipe } from '@drover/recipe';
import { Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { recipeArg, setFlag } from './flags.js';

export default class RecipeLock extends DroverCommand {
  static override summary = 'Pin the base image, local sources and sourceDateEpoch in drover.lock';
  static override description =
    'Writes drover.lock next to the recipe and prints what changed. With --frozen nothing is written and the ' +
    'command fails with the diff when the lockfile is missing or out of date (use it in CI).';
  static override examples = [
    '<%= config.bin %> recipe lock',
    '<%= config.bin %> recipe lock examples/ab-verity/recipe.yaml --frozen',
  ];
  static override args = recipeArg;
  static override flags = {
    set: setFlag,
    frozen: Flags.boolean({ summary: 'Fail instead of writing when the lockfile is missing or stale.' }),
    lockfile: Flags.string({ summary: 'Lockfile path (default: drover.lock next to the recipe).' }),
  };

  async run(): Promise<LockResult> {
    const { args, flags } = await this.parse(RecipeLock);
    // Registry bases are pinned when they carry a digest; the OCI package will supply a resolver for tags.
    const result = await lockRecipe(
      {
        path: args.file,
        env: process.env,
        frozen: flags.frozen,
        ...(flags.set ? { set: flags.set } : {}),
        ...(flags.lockfile ? { lockPath: flags.lockfile } : {}),
      },
      this.context(),
    );
    if (result.upToDate) {
      this.log(`${this.style.green('ok')} ${result.lockPath} is up to date`);
    } else {
      const n = result.changes.length;
      this.log(`wrote ${result.lockPath} (${n} change${n === 1 ? '' : 's'})`);
      this.log(formatLockChanges(result.changes));
    }
    return result;
  }
}
