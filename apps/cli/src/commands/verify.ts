import { readFile } from 'node:fs/promises';
import { DroverError, toDroverError } from '@drover/core';
import { loadPolicy, type VerifyArtifactResult, verifyArtifact } from '@drover/sign';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../command.js';

export default class Verify extends DroverCommand {
  static override summary = 'Verify FILE against a Sigstore bundle and a policy of trusted keys';
  static override description =
    'Checks, in order: the bundle is well formed (BUNDLE_INVALID), its key is trusted by the policy (KEY_UNTRUSTED), ' +
    'the file matches the signed digest (ARTIFACT_TAMPERED), the signature verifies (SIGNATURE_INVALID) and, for ' +
    'attestations, the predicate type is the expected one (PREDICATE_TYPE_MISMATCH). Keyless bundles also need ' +
    '--trusted-root: the certificate must chain to its Fulcio CA and be valid at the time a trusted Rekor log ' +
    'integrated the entry or an RFC 3161 TSA timestamped it (signed entry timestamp, inclusion proof and timestamp ' +
    'checked; TLOG_* and TIMESTAMP_* codes). The trusted root may also be named in the policy ("trustedRoot"). ' +
    'The file is streamed.';
  static override examples = [
    '<%= config.bin %> verify out/edge-1.2.0.img --policy policy.json',
    '<%= config.bin %> verify out/edge-1.2.0.img --bundle out/image.provenance.sigstore.json --policy policy.json --predicate-type https://slsa.dev/provenance/v1',
  ];
  static override args = { file: Args.string({ required: true, description: 'The artifact to verify' }) };
  static override flags = {
    bundle: Flags.string({ summary: 'Sigstore bundle (defaults to FILE.sigstore.json).' }),
    policy: Flags.string({ summary: 'Policy file listing trusted keys and identities.', required: true }),
    'predicate-type': Flags.string({ summary: 'Require an attestation with this predicate type.' }),
    'trusted-root': Flags.string({
      summary:
        'Sigstore trusted_root.json whose Fulcio CAs, Rekor logs and timestamp authorities verify keyless bundles.',
    }),
  };

  async run(): Promise<VerifyArtifactResult> {
    const { args, flags } = await this.parse(Verify);
    const policy = await loadPolicy({ path: flags.policy });
    const trustedRoot = flags['trusted-root'] ? await readJson(flags['trusted-root']) : undefined;
    const result = await verifyArtifact(
      {
        artifact: args.file,
        bundle: flags.bundle ?? `${args.file}.sigstore.json`,
        policy,
        ...(flags['predicate-type'] ? { predicateType: flags['predicate-type'] } : {}),
        ...(trustedRoot ? { trustedRoot } : {}),
      },
      this.context(),
    );
    this.log(
      `Verified ${args.file} (${result.digest}), signed by ${result.signer.keyName ?? result.signer.subject}`,
    );
    if (result.predicateType) this.log(`Attestation: ${result.predicateType}`);
    for (const entry of result.transparencyLog ?? []) {
      this.log(
        `Transparency log: entry ${entry.logIndex} in log ${entry.logID.slice(0, 16)}…, integrated ${entry.integratedTime}`,
      );
    }
    for (const ts of result.timestamps ?? []) this.log(`Timestamp: ${ts.signingTime} by ${ts.authority}`);
    return result;
  }
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw toDroverError(error, 'reading trusted root');
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new DroverError('TRUSTED_ROOT_INVALID', `${path} is not JSON`, {
      hint: 'Pass the Sigstore trusted_root.json of your Fulcio instance.',
      cause: error,
    });
  }
}
