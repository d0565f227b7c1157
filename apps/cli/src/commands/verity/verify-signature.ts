import { readFile } from 'node:fs/promises';
import { DroverError, toDroverError } from '@drover/core';
import { parseDpsSignature, type RootHashSignatureCheck, verifyRootHashSignature } from '@drover/verity';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { rootHashFileFlag } from './flags.js';

/** What `drover verity verify-signature` reports. */
export interface VerifySignatureCommandResult extends RootHashSignatureCheck {
  rootHash: string;
}

async function read(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw toDroverError(error, `reading ${what}`);
  }
}

export default class VerityVerifySignature extends DroverCommand {
  static override summary = 'Check a root-hash signature (detached PKCS#7) against a certificate or a CA';
  static override description =
    'Checks the signature the kernel checks with `root_hash_sig_key_desc` (what `veritysetup open ' +
    '--root-hash-signature` passes it): a detached PKCS#7 over the hex root hash. Trust either the signer ' +
    'certificate (--cert) or the CA that issued it (--ca, a PEM bundle is fine; the signer certificate then comes ' +
    'from the signature or --cert). --dps reads root hash and signature from a Discoverable Partitions signature ' +
    'partition instead. Exits 0 when the signature is valid, 1 when not.';
  static override examples = [
    '<%= config.bin %> verity verify-signature 4c2b…e9 --root-hash-signature=root.p7s --cert=verity.crt',
    '<%= config.bin %> verity verify-signature --root-hash-file=root.roothash --root-hash-signature=root.p7s --ca=ca.pem',
    '<%= config.bin %> verity verify-signature --dps=root.sig --ca=ca.pem --json',
  ];
  static override args = {
    root_hash: Args.string({ required: false, description: 'Root hash (hex) the signature must cover' }),
  };
  static override flags = {
    'root-hash-signature': Flags.string({
      summary: 'The detached PKCS#7 signature (DER), as for veritysetup open --root-hash-signature.',
      exclusive: ['dps'],
    }),
    dps: Flags.string({
      summary:
        'A DPS signature partition (JSON with rootHash and signature) instead of --root-hash-signature.',
    }),
    cert: Flags.string({
      summary: 'The signer certificate (PEM or DER); trusted as is unless --ca is given.',
    }),
    ca: Flags.string({
      summary: 'Trusted CA certificate(s) (PEM bundle or DER) that must have issued the signer.',
    }),
    ...rootHashFileFlag,
  };

  async run(): Promise<VerifySignatureCommandResult> {
    const { args, flags } = await this.parse(VerityVerifySignature);
    if (flags.cert === undefined && flags.ca === undefined) {
      throw new DroverError('VERITY_CERTIFICATE_REQUIRED', 'nothing to trust: give --cert or --ca', {
        kind: 'usage',
        hint: 'Pass the signer certificate with --cert, or the CA that issued it with --ca.',
      });
    }
    let given = args.root_hash;
    if (flags['root-hash-file'] !== undefined)
      given = (await read(flags['root-hash-file'], '--root-hash-file')).toString('utf8').trim();
    let signature: Buffer;
    let rootHash: string;
    let fingerprint: string | undefined;
    if (flags.dps !== undefined) {
      const dps = parseDpsSignature(await read(flags.dps, '--dps'));
      signature = dps.signature;
      rootHash = dps.rootHash;
      fingerprint = dps.certificateFingerprint;
    } else if (flags['root-hash-signature'] !== undefined) {
      signature = await read(flags['root-hash-signature'], '--root-hash-signature');
      if (given === undefined) {
        throw new DroverError('VERITY_ROOT_HASH_REQUIRED', 'no root hash given', {
          kind: 'usage',
          hint: 'Pass the root hash as the argument or with --root-hash-file.',
        });
      }
      rootHash = given;
    } else {
      throw new DroverError('VERITY_SIGNATURE_REQUIRED', 'no signature given', {
        kind: 'usage',
        hint: 'Pass --root-hash-signature=FILE (PKCS#7 DER) or --dps=FILE (a DPS signature partition).',
      });
    }
    const check = await verifyRootHashSignature(
      {
        rootHash,
        signature,
        certificate: flags.cert === undefined ? undefined : await read(flags.cert, '--cert'),
        ca: flags.ca === undefined ? undefined : await read(flags.ca, '--ca'),
      },
      this.context(),
    );
    const result: VerifySignatureCommandResult = { rootHash: rootHash.trim().toLowerCase(), ...check };
    if (result.valid && given !== undefined && given.trim().toLowerCase() !== result.rootHash) {
      result.valid = false;
      result.reason = `the signature partition is for root hash ${result.rootHash}, not ${given}`;
    }
    if (
      result.valid &&
      fingerprint !== undefined &&
      fingerprint.toLowerCase() !== check.certificateFingerprint
    ) {
      result.valid = false;
      result.reason = 'the signature partition names a different certificate fingerprint';
    }
    const s = this.style;
    if (result.valid) {
      const by = result.issuedBy ? `, issued by ${result.issuedBy}` : '';
      this.log(`${s.green('valid')} signature over ${result.rootHash} by ${result.signer.subject}${by}`);
    } else {
      this.log(`${s.red('INVALID')} signature: ${result.reason}`);
      this.exitCodeOnSuccess = 1;
    }
    return result;
  }
}
