import { readFile, writeFile } from 'node:fs/promises';
import { toDroverError } from '@drover/core';
import { renderDpsSignature, signRootHash } from '@drover/verity';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { rootHashFileFlag, rootHashFrom } from './flags.js';

/** What `drover verity sign` reports. */
export interface SignCommandResult {
  rootHash: string;
  signaturePath: string;
  certificateFingerprint: string;
  dpsPath?: string;
}

async function read(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw toDroverError(error, `reading ${what}`);
  }
}

export default class VeritySign extends DroverCommand {
  static override summary =
    'Sign a root hash for the kernel (detached PKCS#7) and the DPS signature partition';
  static override description =
    'Writes a detached PKCS#7 DER signature over the hex root hash, as `root_hash_sig_key_desc` and ' +
    '`veritysetup open --root-hash-signature` expect, and optionally the Discoverable Partitions signature partition ' +
    '(JSON with rootHash, signature and certificateFingerprint, NUL-padded to 4096 bytes).';
  static override examples = [
    '<%= config.bin %> verity sign 4c2b…e9 --key=verity.key --cert=verity.crt --out=root.roothash.p7s',
    '<%= config.bin %> verity sign --root-hash-file=root.roothash --key=k.pem --cert=c.pem --out=root.p7s --dps=root.sig',
  ];
  static override args = { root_hash: Args.string({ required: false, description: 'Root hash (hex)' }) };
  static override flags = {
    key: Flags.string({ summary: 'Private key (PEM or PKCS#8 DER): RSA, EC or Ed25519.', required: true }),
    cert: Flags.string({ summary: 'X.509 certificate of the key (PEM or DER).', required: true }),
    out: Flags.string({ summary: 'Where to write the PKCS#7 DER signature.', required: true }),
    dps: Flags.string({ summary: 'Also write the DPS signature partition contents here.' }),
    'no-certs': Flags.boolean({ summary: 'Do not embed the certificate (like openssl smime -nocerts).' }),
    ...rootHashFileFlag,
  };

  async run(): Promise<SignCommandResult> {
    const { args, flags } = await this.parse(VeritySign);
    const rootHash = await rootHashFrom(args.root_hash, flags['root-hash-file']);
    const signed = await signRootHash(
      {
        rootHash,
        key: await read(flags.key, '--key'),
        certificate: await read(flags.cert, '--cert'),
        includeCertificate: !flags['no-certs'],
      },
      this.context(),
    );
    await writeFile(flags.out, signed.signature);
    const result: SignCommandResult = {
      rootHash: signed.rootHash,
      signaturePath: flags.out,
      certificateFingerprint: signed.certificateFingerprint,
    };
    if (flags.dps) {
      await writeFile(flags.dps, renderDpsSignature(signed));
      result.dpsPath = flags.dps;
    }
    this.log(`Signed ${signed.rootHash} -> ${flags.out}${flags.dps ? ` and ${flags.dps}` : ''}`);
    return result;
  }
}
