import { readVeritySuperblock, type VerityDump as VerityDumpResult } from '@drover/verity';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';

export default class VerityDump extends DroverCommand {
  static override summary = 'Print the verity superblock of HASH (like veritysetup dump)';
  static override examples = [
    '<%= config.bin %> verity dump root.hash',
    '<%= config.bin %> verity dump disk.img --hash-offset=1073741824 --json',
  ];
  static override args = { hash: Args.string({ required: true, description: 'Hash file or device' }) };
  static override flags = {
    'hash-offset': Flags.integer({ summary: 'Byte offset of the superblock.', default: 0 }),
  };

  async run(): Promise<VerityDumpResult> {
    const { args, flags } = await this.parse(VerityDump);
    const dump = await readVeritySuperblock(
      { hashPath: args.hash, hashOffset: flags['hash-offset'] },
      this.context(),
    );
    this.log(`UUID:            ${dump.uuid}`);
    this.log(`Hash type:       ${dump.hashType}`);
    this.log(`Data blocks:     ${dump.dataBlocks}`);
    this.log(`Data block size: ${dump.dataBlockSize}`);
    this.log(`Hash blocks:     ${dump.hashBlocks}`);
    this.log(`Hash block size: ${dump.hashBlockSize}`);
    this.log(`Hash algorithm:  ${dump.algorithm}`);
    this.log(`Salt:            ${dump.salt}`);
    this.log(`Hash device size: ${dump.hashDeviceSize} [bytes]`);
    return dump;
  }
}
