import { DroverError } from '@drover/core';
import { addTargets, type RepositoryStatus } from '@drover/sign';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { roleKeyFlags, roleKeysFromFlags } from './flags.js';

export default class RepoAdd extends DroverCommand {
  static override summary =
    'Add target files (images, manifest.json) to the repository and re-sign targets, snapshot, timestamp';
  static override description =
    'Each FILE is copied into DIR/targets (hash-prefixed with consistent snapshots). A target named manifest.json is ' +
    'checked as an update manifest (versions, max_version, migrations, waves) before it is signed.';
  static override examples = [
    '<%= config.bin %> repo add repo edge-1.2.0.img manifest.json --keys-dir keys',
    '<%= config.bin %> repo add repo build/root.img --name edge/1.2.0/root.img --key targets=t.pem --key snapshot=s.pem --key timestamp=ts.pem',
  ];
  static override strict = false;
  static override args = {
    dir: Args.string({ required: true, description: 'Repository directory' }),
    file: Args.string({ required: true, description: 'Files to add (several allowed)' }),
  };
  static override flags = {
    ...roleKeyFlags,
    name: Flags.string({ summary: 'Target name (only with one FILE; defaults to the file name).' }),
    custom: Flags.string({ summary: 'TUF custom data for the targets, as a JSON object.' }),
  };

  async run(): Promise<RepositoryStatus> {
    const { args, argv, flags } = await this.parse(RepoAdd);
    const files = (argv as string[]).slice(1);
    if (flags.name && files.length !== 1) {
      throw new DroverError('USAGE', '--name needs exactly one FILE', {
        kind: 'usage',
        hint: 'Add the files one by one to name them.',
      });
    }
    let custom: Record<string, unknown> | undefined;
    if (flags.custom) {
      try {
        custom = JSON.parse(flags.custom);
      } catch (error) {
        throw new DroverError('USAGE', '--custom is not JSON', {
          kind: 'usage',
          hint: `e.g. --custom '{"version":"1.2.0"}'`,
          cause: error,
        });
      }
    }
    const keys = await roleKeysFromFlags(flags);
    const result = await addTargets(
      {
        dir: args.dir,
        targets: files.map((file) => ({
          file,
          ...(flags.name ? { name: flags.name } : {}),
          ...(custom ? { custom } : {}),
        })),
        keys,
      },
      this.context(),
    );
    this.log(
      `${result.targets.length} target(s); targets v${result.roles.targets.version}, timestamp v${result.roles.timestamp.version}`,
    );
    return result;
  }
}
