import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DroverError, type ImageRecord, toDroverError } from '@drover/core';
import {
  attestProvenance,
  fileSigner,
  keylessSigner,
  kmsSigner,
  type SignArtifactResult,
  type Signer,
  signArtifact,
} from '@drover/sign';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../command.js';

/** What `drover sign --json` prints: one entry per file (bundle on disk, not inline) and the provenance bundle. */
export interface SignCommandResult {
  artifacts: Omit<SignArtifactResult, 'bundle'>[];
  provenance?: { record: string; bundlePath: string; subjects: number; builderId: string; keyHint: string };
}

export default class Sign extends DroverCommand {
  static override summary =
    'Sign files as Sigstore v0.3 bundles (plus raw .sig), and image provenance as SLSA in DSSE';
  static override description =
    'Each FILE is hashed by streaming and its SHA-256 signed: FILE.sigstore.json is a Sigstore bundle v0.3 with a ' +
    'public-key hint, FILE.sig the raw signature (`openssl dgst -sha256 -verify key.pub -signature FILE.sig FILE`). ' +
    'Ed25519 keys sign an in-toto statement naming the digest instead. --keyless gets a short-lived Fulcio ' +
    'certificate for the GitHub Actions identity and logs the signature in Rekor (the bundle carries the entry). ' +
    '--provenance IMAGE.json writes an in-toto ' +
    'SLSA provenance v1 statement for the image record, signed in a DSSE envelope, taking builder and run details ' +
    'from the GitHub Actions environment when present. Encrypted keys read their passphrase from --passphrase-env.';
  static override examples = [
    '<%= config.bin %> sign out/edge-1.2.0.img --key release.pem',
    '<%= config.bin %> sign --provenance out/image.json --key release.pem',
    '<%= config.bin %> sign out/edge-1.2.0.img --kms alias/drover-release --json',
  ];
  static override strict = false;
  static override args = { file: Args.string({ description: 'Files to sign (several allowed)' }) };
  static override flags = {
    key: Flags.string({ summary: 'Private key file (PEM).', exclusive: ['kms', 'keyless'] }),
    kms: Flags.string({
      summary: 'AWS KMS key id, ARN or alias (region from AWS_REGION).',
      exclusive: ['key', 'keyless'],
    }),
    keyless: Flags.boolean({
      summary: 'Sign with a Fulcio certificate for the GitHub Actions OIDC identity (needs id-token: write).',
      exclusive: ['key', 'kms'],
    }),
    'fulcio-url': Flags.string({
      summary: 'Fulcio base URL for --keyless.',
      default: 'https://fulcio.sigstore.dev',
    }),
    'rekor-url': Flags.string({
      summary: 'Rekor (transparency log) base URL for --keyless.',
      default: 'https://rekor.sigstore.dev',
    }),
    'tsa-url': Flags.string({
      summary: 'RFC 3161 timestamp authority URL: also timestamp --keyless signatures there.',
    }),
    tlog: Flags.boolean({
      summary:
        'Log --keyless signatures in Rekor (--no-tlog: no log entry, so the bundle verifies only while the certificate is valid).',
      default: true,
      allowNo: true,
    }),
    'passphrase-env': Flags.string({
      summary: 'Environment variable holding the key passphrase.',
      default: 'DROVER_KEY_PASSPHRASE',
    }),
    provenance: Flags.string({ summary: 'Image record (image.json) to attest as SLSA provenance.' }),
    'output-dir': Flags.string({ summary: 'Write bundles here instead of next to each file.' }),
    'signature-file': Flags.boolean({
      summary: 'Also write the raw signature FILE.sig.',
      default: true,
      allowNo: true,
    }),
  };

  async run(): Promise<SignCommandResult> {
    const { argv, flags } = await this.parse(Sign);
    const files = argv as string[];
    if (files.length === 0 && !flags.provenance) {
      throw new DroverError('USAGE', 'nothing to sign', {
        kind: 'usage',
        hint: 'Pass one or more FILEs, or --provenance image.json.',
      });
    }
    const signer = await this.signer(flags);
    const ctx = this.context();
    const out = (file: string, suffix: string) =>
      join(flags['output-dir'] ?? dirname(file), `${basename(file)}${suffix}`);
    const artifacts: SignCommandResult['artifacts'] = [];
    for (const file of files) {
      const { bundle: _bundle, ...result } = await signArtifact(
        {
          file,
          signer,
          bundlePath: out(file, '.sigstore.json'),
          ...(flags['signature-file'] ? { signaturePath: out(file, '.sig') } : {}),
        },
        ctx,
      );
      artifacts.push(result);
      this.log(`${file}  ${result.digest}  → ${result.bundlePath}`);
    }
    const result: SignCommandResult = { artifacts };
    if (flags.provenance) {
      const record = await readRecord(flags.provenance);
      const bundlePath = out(flags.provenance.replace(/\.json$/, ''), '.provenance.sigstore.json');
      const att = await attestProvenance({ record, signer, env: process.env, bundlePath }, ctx);
      result.provenance = {
        record: flags.provenance,
        bundlePath,
        subjects: att.statement.subject.length,
        builderId: att.statement.predicate.runDetails.builder.id,
        keyHint: att.keyHint,
      };
      this.log(
        `provenance for ${record.name}@${record.version} (${att.statement.subject.length} subjects) → ${bundlePath}`,
      );
    }
    return result;
  }

  private async signer(flags: {
    key?: string;
    kms?: string;
    keyless?: boolean;
    'fulcio-url': string;
    'rekor-url': string;
    'tsa-url'?: string;
    tlog: boolean;
    'passphrase-env': string;
  }): Promise<Signer> {
    if (flags.keyless)
      return keylessSigner({
        fulcioURL: flags['fulcio-url'],
        rekorURL: flags['rekor-url'],
        transparencyLog: flags.tlog,
        ...(flags['tsa-url'] ? { tsaURL: flags['tsa-url'] } : {}),
      });
    if (flags.kms) return kmsSigner({ keyId: flags.kms });
    if (!flags.key) {
      throw new DroverError('USAGE', 'no signing key given', {
        kind: 'usage',
        hint: 'Pass --key FILE (create one with `drover keys generate`), --kms KEY_ID or --keyless.',
      });
    }
    const passphrase = process.env[flags['passphrase-env']];
    return fileSigner({ path: flags.key, ...(passphrase ? { passphrase } : {}) });
  }
}

async function readRecord(path: string): Promise<ImageRecord> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw toDroverError(error, 'reading image record');
  }
  try {
    const record = JSON.parse(text) as ImageRecord;
    if (typeof record !== 'object' || record === null || record.schemaVersion !== 1)
      throw new Error('schemaVersion is not 1');
    return record;
  } catch (error) {
    throw new DroverError(
      'IMAGE_RECORD_INVALID',
      `${path} is not an image record: ${(error as Error).message}`,
      {
        hint: 'Pass the image.json written by `drover build`.',
        cause: error,
      },
    );
  }
}
