import type { VerityRecord } from '@drover/core';
import { DroverError } from '@drover/core';
import {
  readVeritySuperblock,
  renderVerityTable,
  type VerityTable,
  verityKernelArgument,
  verityPartitionUuids,
} from '@drover/verity';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { rootHashFileFlag, rootHashFrom, treeFlags } from './flags.js';

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
    '<%= config.bin %> verity table --no-superblock --data-blocks=262144 --salt=e48d…2d --hash-offset=1073741824 4c2b…e9 --data-device=/dev/sda3 --hash-device=/dev/sda3',
  ];
  static override args = {
    hash: Args.string({
      required: false,
      description: 'Hash file with a superblock (for the tree parameters); none with --no-superblock',
    }),
    root_hash: Args.string({ required: false, description: 'Root hash (hex)' }),
  };
  static override flags = {
    'data-device': Flags.string({ summary: 'Data device as the kernel names it.', required: true }),
    'hash-device': Flags.string({ summary: 'Hash device as the kernel names it.', required: true }),
    'hash-offset': Flags.integer({
      summary: 'Byte offset of the superblock (of the tree with --no-superblock) in the hash device.',
      default: 0,
    }),
    superblock: treeFlags.superblock,
    hash: Flags.string({
      summary: 'Hash algorithm, with --no-superblock (veritysetup --hash).',
      default: 'sha256',
    }),
    format: treeFlags.format,
    'data-block-size': treeFlags['data-block-size'],
    'hash-block-size': treeFlags['hash-block-size'],
    salt: Flags.string({ summary: 'Salt as hex, or "-" for none, with --no-superblock (default: none).' }),
    'data-blocks': Flags.integer({
      summary: 'Number of data blocks, required with --no-superblock.',
      min: 1,
    }),
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
    let verity: VerityRecord;
    let hashDeviceSize: number | undefined;
    if (flags.superblock) {
      if (args.hash === undefined) {
        throw new DroverError('VERITY_HASH_PATH_REQUIRED', 'no hash file to read the tree parameters from', {
          kind: 'usage',
          hint: 'Pass the hash file (with its superblock), or --no-superblock with the parameters as flags.',
        });
      }
      const rootHash = await rootHashFrom(args.root_hash, flags['root-hash-file']);
      const dump = await readVeritySuperblock(
        { hashPath: args.hash, hashOffset: flags['hash-offset'] },
        this.context(),
      );
      verity = {
        hashType: dump.hashType,
        algorithm: dump.algorithm,
        dataBlockSize: dump.dataBlockSize,
        hashBlockSize: dump.hashBlockSize,
        dataBlocks: dump.dataBlocks,
        salt: dump.salt,
        rootHash,
        hashOffset: dump.hashOffset,
      };
      hashDeviceSize = dump.hashDeviceSize;
    } else {
      // Everything from flags: the one positional argument is the root hash (there is no hash file to read).
      if (args.root_hash !== undefined) {
        throw new DroverError('VERITY_TABLE_ARGUMENTS', 'with --no-superblock, pass only the root hash', {
          kind: 'usage',
          hint: 'Drop the hash file argument: drover verity table --no-superblock --data-blocks=N … ROOT_HASH',
        });
      }
      if (flags['data-blocks'] === undefined) {
        throw new DroverError(
          'VERITY_DATA_BLOCKS_REQUIRED',
          'without a superblock the number of data blocks must be given',
          {
            kind: 'usage',
            hint: 'Pass --data-blocks (and --hash, --salt, block sizes) as given to format.',
          },
        );
      }
      verity = {
        hashType: flags.format as 0 | 1,
        algorithm: flags.hash.toLowerCase(),
        dataBlockSize: flags['data-block-size'],
        hashBlockSize: flags['hash-block-size'],
        dataBlocks: flags['data-blocks'],
        salt: flags.salt ?? '-',
        rootHash: await rootHashFrom(args.hash, flags['root-hash-file']),
        hashOffset: flags['hash-offset'],
        superblock: false,
      };
    }
    const rootHash = verity.rootHash;
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
            hashDeviceSize,
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
