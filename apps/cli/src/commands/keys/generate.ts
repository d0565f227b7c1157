import { DroverError } from '@drover/core';
import { type GeneratedKeyPair, generateKeyPair, KEY_ALGORITHMS } from '@drover/sign';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';

export default class KeysGenerate extends DroverCommand {
  static override summary = 'Generate a signing key pair (private key mode 0600, public key PATH.pub)';
  static override description =
    'Writes a PKCS#8 PEM private key with file mode 0600 and its SPKI PEM public key. ECDSA P-256 is the default ' +
    '(Sigstore, cosign, openssl and KMS all speak it). With --passphrase-env the private key is encrypted ' +
    '(AES-256-CBC) with the passphrase read from that environment variable; the passphrase never goes on the command line.';
  static override examples = [
    '<%= config.bin %> keys generate release.pem',
    'DROVER_KEY_PASSPHRASE=… <%= config.bin %> keys generate release.pem --passphrase-env DROVER_KEY_PASSPHRASE',
    '<%= config.bin %> keys generate tuf-root.pem --algorithm ed25519 --json',
  ];
  static override args = {
    path: Args.string({ description: 'Private key file to write', default: 'drover.pem' }),
  };
  static override flags = {
    algorithm: Flags.string({
      summary: 'Key algorithm.',
      options: [...KEY_ALGORITHMS],
      default: 'ecdsa-p256',
    }),
    'passphrase-env': Flags.string({
      summary: 'Encrypt the private key with the passphrase in this environment variable.',
    }),
    force: Flags.boolean({ summary: 'Replace existing key files.' }),
  };

  async run(): Promise<GeneratedKeyPair> {
    const { args, flags } = await this.parse(KeysGenerate);
    let passphrase: string | undefined;
    if (flags['passphrase-env']) {
      passphrase = process.env[flags['passphrase-env']];
      if (!passphrase) {
        throw new DroverError(
          'KEY_PASSPHRASE_REQUIRED',
          `environment variable ${flags['passphrase-env']} is not set`,
          {
            kind: 'usage',
            hint: `Export ${flags['passphrase-env']} with the passphrase, or leave out --passphrase-env for an unencrypted key.`,
          },
        );
      }
    }
    const result = await generateKeyPair(
      {
        privateKeyPath: args.path,
        algorithm: flags.algorithm as GeneratedKeyPair['algorithm'],
        overwrite: flags.force,
        ...(passphrase === undefined ? {} : { passphrase }),
      },
      this.context(),
    );
    this.log(`Private key: ${result.privateKeyPath} (mode 0600${result.encrypted ? ', encrypted' : ''})`);
    this.log(`Public key:  ${result.publicKeyPath}`);
    this.log(`Key hint:    ${result.keyHint}`);
    return result;
  }
}
