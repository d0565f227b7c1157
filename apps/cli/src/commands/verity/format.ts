import { writeFile } from 'node:fs/promises';
import { type FormatResult, formatVerity } from '@drover/verity';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { dataOffsetFlag, fecFlags, threadsFlag, treeFlags } from './flags.js';

export default class VerityFormat extends DroverCommand {
  static override summary = 'Build a dm-verity hash tree for DATA (byte-identical to veritysetup format)';
  static override description =
    'Hashes DATA into a dm-verity tree in HASH, with the superblock, optional Reed-Solomon FEC parity and the same ' +
    'flags as veritysetup format. The hash file is written under a temporary name and renamed when complete.';
  static override examples = [
    '<%= config.bin %> verity format root.img root.hash',
    '<%= config.bin %> verity format root.img root.hash --salt=- --hash=sha512 --root-hash-file=root.roothash',
    '<%= config.bin %> verity format root.img root.img --hash-offset=1073741824 --fec-device=root.fec --fec-roots=8',
  ];
  static override args = {
    data: Args.string({ required: true, description: 'Data file or device to protect' }),
    hash: Args.string({
      required: true,
      description: 'Where the hash tree goes (may be DATA with --hash-offset)',
    }),
  };
  static override flags = {
    ...treeFlags,
    ...dataOffsetFlag,
    uuid: Flags.string({ summary: 'UUID recorded in the superblock (default: random).' }),
    ...fecFlags,
    'root-hash-file': Flags.string({ summary: 'Also write the root hash (hex) to this file.' }),
    ...threadsFlag,
  };

  async run(): Promise<FormatResult> {
    const { args, flags } = await this.parse(VerityFormat);
    const result = await formatVerity(
      {
        dataPath: args.data,
        dataOffset: flags['data-offset'],
        hashPath: args.hash,
        hashType: flags.format as 0 | 1,
        algorithm: flags.hash,
        dataBlockSize: flags['data-block-size'],
        hashBlockSize: flags['hash-block-size'],
        salt: flags.salt,
        uuid: flags.uuid,
        dataBlocks: flags['data-blocks'],
        hashOffset: flags['hash-offset'],
        superblock: flags.superblock,
        fecPath: flags['fec-device'],
        fecRoots: flags['fec-roots'],
        fecOffset: flags['fec-offset'],
        threads: flags.threads,
      },
      this.context(),
    );
    if (flags['root-hash-file']) await writeFile(flags['root-hash-file'], result.rootHash);
    if (result.uuid) this.log(`UUID:            ${result.uuid}`);
    this.log(`Hash type:       ${result.hashType}`);
    this.log(`Data blocks:     ${result.dataBlocks}`);
    this.log(`Data block size: ${result.dataBlockSize}`);
    this.log(`Hash blocks:     ${result.hashBlocks}`);
    this.log(`Hash block size: ${result.hashBlockSize}`);
    this.log(`Hash algorithm:  ${result.algorithm}`);
    this.log(`Salt:            ${result.salt}`);
    if (result.fec) this.log(`FEC RS roots:    ${result.fec.roots}`);
    this.log(`Root hash:       ${result.rootHash}`);
    return result;
  }
}
