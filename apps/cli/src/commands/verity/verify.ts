import { type VerifyResult, verifyVerity } from '@drover/verity';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { dataOffsetFlag, fecFlags, rootHashFileFlag, rootHashFrom, threadsFlag, treeFlags } from './flags.js';

export default class VerityVerify extends DroverCommand {
  static override summary = 'Check DATA against its hash tree and root hash, reporting every bad block';
  static override description =
    'Unlike veritysetup, which stops at the first bad block, this checks the whole tree and lists every corrupted ' +
    'data block and hash block (index and byte offset), a wrong root hash, a bad superblock and non-zero padding. ' +
    'With --fec-device it also says which bad blocks FEC can correct. Exits 0 when intact, 1 when not.';
  static override examples = [
    '<%= config.bin %> verity verify root.img root.hash 4c2b…e9',
    '<%= config.bin %> verity verify root.img root.hash --root-hash-file=root.roothash --json',
    '<%= config.bin %> verity verify root.img root.hash --no-superblock --data-blocks=262144 --salt=- 4c2b…e9',
    '<%= config.bin %> verity verify disk.img root.hash --data-offset=1048576 4c2b…e9',
  ];
  static override args = {
    data: Args.string({ required: true, description: 'Data file or device' }),
    hash: Args.string({ required: true, description: 'Hash file or device' }),
    root_hash: Args.string({ required: false, description: 'Trusted root hash (hex)' }),
  };
  static override flags = {
    ...treeFlags,
    ...dataOffsetFlag,
    ...fecFlags,
    ...rootHashFileFlag,
    ...threadsFlag,
    'max-issues': Flags.integer({
      summary: 'List at most this many issues (counts stay exact).',
      default: 1000,
    }),
  };

  async run(): Promise<VerifyResult> {
    const { args, flags } = await this.parse(VerityVerify);
    const rootHash = await rootHashFrom(args.root_hash, flags['root-hash-file']);
    const explicit = (name: string): boolean =>
      this.argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    // With a superblock, only flags the user typed are compared with it; without, defaults apply as in veritysetup.
    const pick = <T>(name: string, value: T): T | undefined =>
      !flags.superblock || explicit(name) ? value : undefined;
    const result = await verifyVerity(
      {
        dataPath: args.data,
        dataOffset: flags['data-offset'],
        hashPath: args.hash,
        rootHash,
        hashOffset: flags['hash-offset'],
        superblock: flags.superblock,
        hashType: pick('format', flags.format as 0 | 1),
        algorithm: pick('hash', flags.hash),
        dataBlockSize: pick('data-block-size', flags['data-block-size']),
        hashBlockSize: pick('hash-block-size', flags['hash-block-size']),
        dataBlocks: flags['data-blocks'],
        salt: flags.salt,
        fecPath: flags['fec-device'],
        fecRoots: flags['fec-roots'],
        fecOffset: flags['fec-offset'],
        maxIssues: flags['max-issues'],
        threads: flags.threads,
      },
      this.context(),
    );
    const s = this.style;
    if (result.ok) {
      this.log(
        `${s.green('ok')} ${result.checked.dataBlocks} data blocks and ${result.checked.hashBlocks} hash blocks verified`,
      );
    } else {
      for (const issue of result.issues) {
        switch (issue.kind) {
          case 'data-block':
            this.log(`${s.red('bad data block')} ${issue.index} at byte ${issue.offset}`);
            break;
          case 'hash-block':
            this.log(
              `${s.red('bad hash block')} ${issue.index} of level ${issue.level} at byte ${issue.offset}`,
            );
            break;
          case 'padding':
            this.log(
              `${s.red('non-zero padding')} in hash block ${issue.index} of level ${issue.level} at byte ${issue.offset}`,
            );
            break;
          case 'root-hash':
            this.log(
              `${s.red('root hash mismatch')}: expected ${issue.expected}, tree gives ${issue.actual}`,
            );
            break;
          case 'superblock':
            this.log(`${s.red('bad superblock')} (${issue.field}): ${issue.message}`);
            break;
        }
      }
      if (result.truncated) this.log(s.dim(`… more issues not listed (raise --max-issues)`));
      const c = result.counts;
      this.log(
        `${s.red('FAILED')}: ${c.dataBlocks} bad data blocks, ${c.hashBlocks} bad hash blocks, ${c.padding} padding, ` +
          `${c.rootHash} root hash, ${c.superblock} superblock issues`,
      );
      if (result.fec) {
        this.log(
          `FEC can correct ${result.fec.correctable.length} block(s); ${result.fec.uncorrectable.length} cannot be corrected`,
        );
      }
      this.exitCodeOnSuccess = 1;
    }
    return result;
  }
}
