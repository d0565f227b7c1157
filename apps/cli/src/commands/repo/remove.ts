import { type RepositoryStatus, removeTargets } from '@drover/sign';
import { Args } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { roleKeyFlags, roleKeysFromFlags } from './flags.js';

export default class RepoRemove extends DroverCommand {
  static override summary =
    'Remove targets from the signed targets metadata and re-sign (files stay for older snapshots)';
  static override examples = ['<%= config.bin %> repo remove repo edge-1.0.0.img --keys-dir keys'];
  static override strict = false;
  static override args = {
    dir: Args.string({ required: true, description: 'Repository directory' }),
    name: Args.string({ required: true, description: 'Target names to remove (several allowed)' }),
  };
  static override flags = { ...roleKeyFlags };

  async run(): Promise<RepositoryStatus> {
    const { args, argv, flags } = await this.parse(RepoRemove);
    const keys = await roleKeysFromFlags(flags);
    const result = await removeTargets(
      { dir: args.dir, names: (argv as string[]).slice(1), keys },
      this.context(),
    );
    this.log(`${result.targets.length} target(s) left; targets v${result.roles.targets.version}`);
    return result;
  }
}
