import type { VerityRecord } from '@drover/core';
import {
  readVeritySuperblock,
  renderVerityTable,
  type VerityTable,
  verityKernelArgument,
  verityPartitionUuids,
} from '@drover/verity';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { rootHashFileFlag, rootHashFrom } from './flags.js';

/** What `drover verity table` prints with --json. */
export interface TableCommandResult extends VerityTable {
  kernelArgument?: string;
  partitionUuids?: { data: string; verity: string };
}

export default class VerityTableCommand extends DroverCommand {
  static override summary = 'Render the dm-verity table, dm-mod.create=, roothash= and DPS partition UUIDs';
  static override examples = [
    '<%= config.bin %> verity table root.hash 4c2b…e9 --data-device=/dev/sda3 --hash-device=/dev/sda4',
    '<%= config.bin %> verity table root.hash --root-hash-file=root.roothash --data-device=PARTUUID=$boot_uuid/PARTNROFF=1 --hash-device=PARTUUID=$boot_uuid/PARTNROFF=2 --on-corruption=restart --ignore-zero-blocks',
  ];
  static override args = {
    hash: Args.string({
      required: true,
      description: 'Hash file with a superblock (for the tree parameters)',
    }),
    root_hash: Args.string({ required: false, description: 'Root hash (hex)' }),
  };
  static override flags = {
    'data-device': Flags.string({ summary: 'Data device as the kernel names it.', required: true }),
    'hash-device': Flags.string({ summary: 'Hash device as the kernel names it.', required: true }),
    'hash-offset': Flags.integer({ summary: 'Byte offset of the superblock in the hash file.', default: 0 }),
    'on-corruption': Flags.string({
      summary: 'What the kernel does on corruption.',
      options: ['eio', 'ignore', 'restart', 'panic'],
    }),
    'on-error': Flags.string({
      summary: 'What the kernel does on I/O errors.',
      options: ['restart', 'panic'],
    }),
    'ignore-zero-blocks': Flags.boolean({ summary: 'Do not verify blocks expected to be zero.' }),
    'check-at-most-once': Flags.boolean({ summary: 'Verify each data block only once.' }),
    'fec-device': Flags.string({ summary: 'FEC device as the kernel names it.' }),
    'fec-roots': Flags.integer({ summary: 'FEC roots.', default: 2 }),
    'fec-offset': Flags.integer({ summary: 'Byte offset of the parity.', default: 0 }),
    'fec-blocks': Flags.integer({ summary: 'Blocks covered by FEC (as formatVerity reported).' }),
    'signature-key-desc': Flags.string({ summary: 'Keyring description of the root-hash signature.' }),
    name: Flags.string({ summary: 'dm device name for dm-mod.create=.', default: 'root' }),
    usr: Flags.boolean({ summary: 'Print usrhash= instead of roothash=.' }),
    ...rootHashFileFlag,
  };

  async run(): Promise<TableCommandResult> {
    const { args, flags } = await this.parse(VerityTableCommand);
    const rootHash = await rootHashFrom(args.root_hash, flags['root-hash-file']);
    const dump = await readVeritySuperblock(
      { hashPath: args.hash, hashOffset: flags['hash-offset'] },
      this.context(),
    );
    const verity: VerityRecord = {
      hashType: dump.hashType,
      algorithm: dump.algorithm,
      dataBlockSize: dump.dataBlockSize,
      hashBlockSize: dump.hashBlockSize,
      dataBlocks: dump.dataBlocks,
      salt: dump.salt,
      rootHash,
      hashOffset: dump.hashOffset,
    };
    const table = renderVerityTable({
      verity,
      dataDevice: flags['data-device'],
      hashDevice: flags['hash-device'],
      onCorruption: flags['on-corruption'] as 'eio' | undefined,
      onError: flags['on-error'] as 'restart' | undefined,
      ignoreZeroBlocks: flags['ignore-zero-blocks'],
      checkAtMostOnce: flags['check-at-most-once'],
      fec: flags['fec-device']
        ? {
            device: flags['fec-device'],
            roots: flags['fec-roots'],
            offset: flags['fec-offset'],
            blocks: flags['fec-blocks'],
            hashDeviceSize: dump.hashDeviceSize,
          }
        : undefined,
      signatureKeyDescription: flags['signature-key-desc'],
      name: flags.name,
    });
    const result: TableCommandResult = { ...table };
    this.log(table.table);
    this.log(table.dmModCreate);
    if (rootHash.length >= 64) {
      result.kernelArgument = verityKernelArgument({ rootHash, usr: flags.usr });
      result.partitionUuids = verityPartitionUuids(rootHash);
      this.log(result.kernelArgument);
      this.log(`data partition UUID:   ${result.partitionUuids.data}`);
      this.log(`verity partition UUID: ${result.partitionUuids.verity}`);
    }
    return result;
  }
}
