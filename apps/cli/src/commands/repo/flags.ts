import { DroverError } from '@drover/core';
import { loadRoleKeys, type RoleKeys } from '@drover/sign';
import { Flags } from '@oclif/core';

/** Flags every signing repo command shares: where the role keys are and how to unlock them. */
export const roleKeyFlags = {
  'keys-dir': Flags.string({
    summary:
      'Directory with <role>.pem private keys (root, targets, snapshot, timestamp; <role>-N.pem for more).',
  }),
  key: Flags.string({ summary: 'A role key as ROLE=FILE (repeatable).', multiple: true }),
  'passphrase-env': Flags.string({
    summary: 'Environment variable holding the passphrase of encrypted keys.',
    default: 'DROVER_KEY_PASSPHRASE',
  }),
};

/** Load the role keys named by the flags; a clear usage error when none are given. */
export async function roleKeysFromFlags(flags: {
  'keys-dir'?: string;
  key?: string[];
  'passphrase-env': string;
}): Promise<RoleKeys> {
  if (!flags['keys-dir'] && !flags.key?.length) {
    throw new DroverError('TUF_KEYS_MISSING', 'no signing keys given', {
      kind: 'usage',
      hint: 'Pass --keys-dir DIR (holding <role>.pem files) or --key ROLE=FILE.',
    });
  }
  const passphrase = process.env[flags['passphrase-env']];
  return loadRoleKeys({
    ...(flags['keys-dir'] ? { keysDir: flags['keys-dir'] } : {}),
    ...(flags.key ? { keys: flags.key } : {}),
    ...(passphrase ? { passphrase } : {}),
  });
}

/** Parse ROLE=VALUE flags into numbers. */
export function roleNumbers(values: string[] | undefined, what: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values ?? []) {
    const [role, num] = v.split('=');
    const n = Number(num);
    if (!role || num === undefined || !Number.isFinite(n)) {
      throw new DroverError('USAGE', `--${what} ${JSON.stringify(v)} is not ROLE=NUMBER`, {
        kind: 'usage',
        hint: `e.g. --${what} root=2`,
      });
    }
    out[role] = n;
  }
  return out;
}
