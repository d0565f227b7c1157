import { DroverError } from '@drover/core';
import {
  generateRoleKeys,
  initRepository,
  KEY_ALGORITHMS,
  type KeyAlgorithm,
  type RepositoryStatus,
  type RoleSettings,
  TUF_ROLES,
  type TufRole,
} from '@drover/sign';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { roleKeyFlags, roleKeysFromFlags, roleNumbers } from './flags.js';

export default class RepoInit extends DroverCommand {
  static override summary =
    'Create a signed TUF update repository (root, targets, snapshot, timestamp) in DIR';
  static override description =
    'Writes DIR/metadata (1.root.json, root.json, 1.targets.json, 1.snapshot.json, timestamp.json) and an empty ' +
    'DIR/targets, signed with the role keys. Publish DIR/metadata and DIR/targets; keep the keys elsewhere.';
  static override examples = [
    '<%= config.bin %> repo init repo --keys-dir keys --generate-keys',
    '<%= config.bin %> repo init repo --keys-dir keys --threshold root=2 --expires timestamp=0.5',
  ];
  static override args = { dir: Args.string({ required: true, description: 'Repository directory' }) };
  static override flags = {
    ...roleKeyFlags,
    'generate-keys': Flags.boolean({ summary: 'Create missing <role>.pem keys in --keys-dir first.' }),
    algorithm: Flags.string({
      summary: 'Algorithm of generated keys.',
      options: [...KEY_ALGORITHMS],
      default: 'ecdsa-p256',
    }),
    threshold: Flags.string({ summary: 'Signature threshold as ROLE=N (repeatable).', multiple: true }),
    expires: Flags.string({ summary: 'Role lifetime in days as ROLE=DAYS (repeatable).', multiple: true }),
    'no-consistent-snapshot': Flags.boolean({
      summary: 'Plain file names instead of version/hash-prefixed ones.',
    }),
  };

  async run(): Promise<RepositoryStatus & { generatedKeys: string[] }> {
    const { args, flags } = await this.parse(RepoInit);
    const ctx = this.context();
    let generatedKeys: string[] = [];
    if (flags['generate-keys']) {
      if (!flags['keys-dir']) {
        throw new DroverError('USAGE', '--generate-keys needs --keys-dir', {
          kind: 'usage',
          hint: 'e.g. --keys-dir keys',
        });
      }
      const passphrase = process.env[flags['passphrase-env']];
      generatedKeys = await generateRoleKeys(
        {
          keysDir: flags['keys-dir'],
          algorithm: flags.algorithm as KeyAlgorithm,
          ...(passphrase ? { passphrase } : {}),
        },
        ctx,
      );
    }
    const keys = await roleKeysFromFlags(flags);
    const thresholds = roleNumbers(flags.threshold, 'threshold');
    const expires = roleNumbers(flags.expires, 'expires');
    const roles: Partial<Record<TufRole, Partial<RoleSettings>>> = {};
    for (const role of TUF_ROLES) {
      roles[role] = {
        ...(thresholds[role] !== undefined ? { threshold: thresholds[role] } : {}),
        ...(expires[role] !== undefined ? { expiresDays: expires[role] } : {}),
      };
      if (!keys[role]?.length) {
        throw new DroverError('TUF_THRESHOLD_NOT_MET', `no key for the ${role} role`, {
          kind: 'usage',
          hint: `Add ${role}.pem to --keys-dir, pass --key ${role}=FILE, or use --generate-keys.`,
        });
      }
    }
    const result = await initRepository(
      {
        dir: args.dir,
        keys: keys as Record<TufRole, NonNullable<(typeof keys)[TufRole]>>,
        roles,
        consistentSnapshot: !flags['no-consistent-snapshot'],
      },
      ctx,
    );
    for (const file of generatedKeys) this.log(`Generated ${file}`);
    this.log(
      `Initialized ${args.dir}: root v${result.roles.root.version}, expires ${result.roles.root.expires}`,
    );
    this.log(`Ship ${args.dir}/metadata/1.root.json to clients as their trusted root.`);
    return { ...result, generatedKeys };
  }
}
