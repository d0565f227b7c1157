import { type RepairResult, repairVerity } from '@drover/verity';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { fecFlags, rootHashFileFlag, rootHashFrom, threadsFlag } from './flags.js';

export default class VerityRepair extends DroverCommand {
  static override summary = 'Rewrite corrupted blocks of DATA and HASH from FEC parity, in place';
  static override description =
    'Verifies the image, recovers every bad block whose interleaving group has no more bad blocks than FEC roots, ' +
    'checks the recovered content against the tree, writes it back and verifies again. --dry-run only reports. ' +
    'Exits 0 when the image is intact afterwards, 1 when blocks remain bad.';
  static override examples = [
    '<%= config.bin %> verity repair root.img root.hash --fec-device=root.fec --dry-run 4c2b…e9',
    '<%= config.bin %> verity repair root.img root.hash --fec-device=root.fec --fec-roots=8 --root-hash-file=root.roothash',
  ];
  static override args = {
    data: Args.string({ required: true, description: 'Data file or device' }),
    hash: Args.string({ required: true, description: 'Hash file or device (with superblock)' }),
    root_hash: Args.string({ required: false, description: 'Trusted root hash (hex)' }),
  };
  static override flags = {
    ...fecFlags,
    'fec-device': Flags.string({
      summary: 'File or device holding the Reed-Solomon parity.',
      required: true,
    }),
    'hash-offset': Flags.integer({ summary: 'Byte offset of the superblock in the hash file.', default: 0 }),
    'dry-run': Flags.boolean({ summary: 'Report what would be repaired without writing.' }),
    ...rootHashFileFlag,
    ...threadsFlag,
  };

  async run(): Promise<RepairResult> {
    const { args, flags } = await this.parse(VerityRepair);
    const rootHash = await rootHashFrom(args.root_hash, flags['root-hash-file']);
    const result = await repairVerity(
      {
        dataPath: args.data,
        hashPath: args.hash,
        rootHash,
        hashOffset: flags['hash-offset'],
        fecPath: flags['fec-device'],
        fecRoots: flags['fec-roots'],
        fecOffset: flags['fec-offset'],
        dryRun: flags['dry-run'],
        threads: flags.threads,
      },
      this.context(),
    );
    const verb = result.dryRun ? 'would repair' : 'repaired';
    for (const b of result.repaired) this.log(`${verb} ${b.area} block ${b.index} at byte ${b.offset}`);
    for (const b of result.unrepairable)
      this.log(`${this.style.red('cannot repair')} ${b.area} block ${b.index} at byte ${b.offset}`);
    if (result.before.ok) this.log(`${this.style.green('ok')} nothing to repair`);
    else if (result.ok)
      this.log(
        `${this.style.green('ok')} ${result.dryRun ? 'all bad blocks are correctable' : 'image intact after repair'}`,
      );
    else {
      this.log(
        `${this.style.red('FAILED')}: the image is not intact${result.dryRun ? ' and cannot be fully repaired' : ' after repair'}`,
      );
      this.exitCodeOnSuccess = 1;
    }
    return result;
  }
}
