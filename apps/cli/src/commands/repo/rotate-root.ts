import { DroverError } from '@drover/core';
import { loadRoleKeys, type RepositoryStatus, rotateRoot, type TufRole } from '@drover/sign';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { roleKeyFlags, roleKeysFromFlags, roleNumbers } from './flags.js';

export default class RepoRotateRoot extends DroverCommand {
  static override summary =
    'Write a new root version with new role keys, signed by the current and the new root keys';
  static override description =
    'The current root keys come from --keys-dir/--key (role root); new keys from --new-key ROLE=FILE. Roles without a ' +
    'new key keep theirs. Clients that trust the current root follow the rotation; re-sign the rotated roles next ' +
    '(e.g. `drover repo refresh --force` with the new timestamp key).';
  static override examples = [
    '<%= config.bin %> repo rotate-root repo --key root=keys/root.pem --new-key root=new/root.pem --new-key timestamp=new/timestamp.pem',
  ];
  static override args = { dir: Args.string({ required: true, description: 'Repository directory' }) };
  static override flags = {
    ...roleKeyFlags,
    'new-key': Flags.string({
      summary: 'A new role key as ROLE=FILE (repeatable).',
      multiple: true,
      required: true,
    }),
    threshold: Flags.string({ summary: 'New threshold as ROLE=N (repeatable).', multiple: true }),
  };

  async run(): Promise<RepositoryStatus> {
    const { args, flags } = await this.parse(RepoRotateRoot);
    const current = await roleKeysFromFlags(flags);
    if (!current.root?.length) {
      throw new DroverError(
        'TUF_THRESHOLD_NOT_MET',
        'the current root keys are needed to sign the new root',
        {
          kind: 'usage',
          hint: 'Pass --key root=FILE (or a --keys-dir holding root.pem) with the current root key(s).',
        },
      );
    }
    const passphrase = process.env[flags['passphrase-env']];
    const newKeys = await loadRoleKeys({ keys: flags['new-key'], ...(passphrase ? { passphrase } : {}) });
    const result = await rotateRoot(
      {
        dir: args.dir,
        currentRootKeys: current.root,
        newKeys,
        thresholds: roleNumbers(flags.threshold, 'threshold') as Partial<Record<TufRole, number>>,
      },
      this.context(),
    );
    this.log(`root v${result.roles.root.version}: ${Object.keys(newKeys).join(', ')} rotated`);
    return result;
  }
}
