import { type RepositoryStatus, refreshRepository, type TufRole } from '@drover/sign';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { roleKeyFlags, roleKeysFromFlags } from './flags.js';

export default class RepoRefresh extends DroverCommand {
  static override summary =
    'Re-sign timestamp and snapshot (and targets) that expire within half their lifetime';
  static override description =
    'Run it on a schedule (e.g. hourly): timestamp metadata lives a day by default and clients refuse expired metadata. ' +
    'Only the roles that are due are re-signed, so only their keys are needed.';
  static override examples = [
    '<%= config.bin %> repo refresh repo --key timestamp=keys/timestamp.pem',
    '<%= config.bin %> repo refresh repo --keys-dir keys --force',
  ];
  static override args = { dir: Args.string({ required: true, description: 'Repository directory' }) };
  static override flags = {
    ...roleKeyFlags,
    force: Flags.boolean({ summary: 'Re-sign snapshot and timestamp even if not due.' }),
  };

  async run(): Promise<RepositoryStatus & { refreshed: TufRole[] }> {
    const { args, flags } = await this.parse(RepoRefresh);
    const keys = await roleKeysFromFlags(flags);
    const result = await refreshRepository({ dir: args.dir, keys, force: flags.force }, this.context());
    this.log(
      result.refreshed.length
        ? `Re-signed ${result.refreshed.join(', ')}`
        : 'Nothing due; metadata is fresh.',
    );
    this.log(`timestamp v${result.roles.timestamp.version} expires ${result.roles.timestamp.expires}`);
    return result;
  }
}
