import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flattenSource, listTree, type TreeListingEntry, type TreeSummary } from '@drover/oci';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { platformFlag, platformOf, registryAccess, registryFlags } from './flags.js';

const TYPE_CHAR: Record<TreeListingEntry['type'], string> = {
  file: '-',
  dir: 'd',
  symlink: 'l',
  char: 'c',
  block: 'b',
  fifo: 'p',
};

function permissions(entry: TreeListingEntry): string {
  const mode = Number.parseInt(entry.mode, 8);
  const bit = (b: number, c: string): string => (mode & b ? c : '-');
  let s = TYPE_CHAR[entry.type];
  s += bit(0o400, 'r') + bit(0o200, 'w') + (mode & 0o4000 ? (mode & 0o100 ? 's' : 'S') : bit(0o100, 'x'));
  s += bit(0o40, 'r') + bit(0o20, 'w') + (mode & 0o2000 ? (mode & 0o10 ? 's' : 'S') : bit(0o10, 'x'));
  s += bit(0o4, 'r') + bit(0o2, 'w') + (mode & 0o1000 ? (mode & 0o1 ? 't' : 'T') : bit(0o1, 'x'));
  return s;
}

export interface TreeResult {
  digest: string;
  summary: TreeSummary;
  entries: TreeListingEntry[];
}

export default class OciTree extends DroverCommand {
  static override summary =
    'List the root filesystem an image flattens to (whiteouts applied, nothing unpacked)';
  static override examples = [
    '<%= config.bin %> oci tree oci:./base:1.2',
    '<%= config.bin %> oci tree 127.0.0.1:5000/base:1 --insecure --json',
  ];
  static override args = {
    source: Args.string({
      required: true,
      description: 'oci:DIR[:TAG], a layout directory, or a registry reference',
    }),
  };
  static override flags = {
    platform: platformFlag,
    'max-entries': Flags.integer({ summary: 'Refuse images with more tar entries than this.', min: 1 }),
    ...registryFlags,
  };

  async run(): Promise<TreeResult> {
    const { args, flags } = await this.parse(OciTree);
    const platform = platformOf(flags.platform);
    const cacheDir = await mkdtemp(join(tmpdir(), 'drover-oci-tree-'));
    try {
      const { tree, image } = await flattenSource(
        {
          source: args.source,
          cacheDir,
          registry: registryAccess(flags),
          ...(platform ? { platform } : {}),
          ...(flags['max-entries'] ? { limits: { maxEntries: flags['max-entries'] } } : {}),
        },
        this.context(),
      );
      const entries = listTree(tree);
      if (!this.jsonEnabled()) {
        const lines = entries.map((e) => {
          const size = e.device ?? String(e.size);
          const link =
            e.target !== undefined ? ` -> ${e.target}` : e.hardlinkTo ? ` link to ${e.hardlinkTo}` : '';
          return `${permissions(e)} ${`${e.uid}/${e.gid}`.padEnd(11)} ${size.padStart(10)} ${e.path}${link}`;
        });
        this.log(lines.join('\n'));
      }
      return { digest: image.descriptor.digest, summary: tree.summary(), entries };
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  }
}
