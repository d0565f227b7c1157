import {
  formatBytes,
  type ImageInspectionReport,
  inspectImageFile,
  type PartitionInspection,
} from '@drover/image';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';

function describeContent(p: PartitionInspection): string {
  if (p.filesystem) {
    const fs = p.filesystem;
    return `${fs.type} ${formatBytes(fs.size)}${fs.uuid ? ` uuid ${fs.uuid}` : ''}`;
  }
  if (p.verity)
    return `verity ${p.verity.algorithm}, ${p.verity.dataBlocks} data blocks, uuid ${p.verity.uuid}`;
  return p.content;
}

export default class ImageInspect extends DroverCommand {
  static override summary =
    'Show what IMAGE holds: partitions, filesystem, verity, sizes (a disk, a filesystem, or a build output)';
  static override description =
    "IMAGE is a disk image (its GPT is decoded: labels, types, attributes incl. A/B gptprio bits, and each partition's filesystem or verity superblock), a filesystem image (EROFS, squashfs, ext4), a verity hash file, or a build output directory / image.json (the record is summarized and every artifact's size is checked; --verify also checks digests). Exits 1 when the disk's tables are damaged or an artifact is missing or differs.";
  static override examples = [
    '<%= config.bin %> image inspect out/minimal-0.1.0',
    '<%= config.bin %> image inspect out/minimal-0.1.0/disk.img --json',
    '<%= config.bin %> image inspect out/minimal-0.1.0/image.json --verify',
  ];
  static override args = {
    image: Args.string({
      required: true,
      description: 'Disk image, filesystem image, verity hash file, image.json, or build output directory',
    }),
  };
  static override flags = {
    verify: Flags.boolean({
      summary: 'For records: hash every artifact present and compare with the record.',
      default: false,
    }),
  };

  async run(): Promise<ImageInspectionReport> {
    const { args, flags } = await this.parse(ImageInspect);
    const report = await inspectImageFile({ path: args.image, verify: flags.verify }, this.context());
    if (report.record) {
      const r = report.record;
      this.log(
        `Image:       ${r.name} ${r.version}${r.variant ? ` (${r.variant})` : ''}${r.arch ? ` ${r.arch}` : ''}`,
      );
      if (report.rootHash) this.log(`Root hash:   ${report.rootHash}`);
      if (r.filesystem) this.log(`Filesystem:  ${r.filesystem.type} ${formatBytes(r.filesystem.size)}`);
      if (r.verity) {
        this.log(
          `Verity:      ${r.verity.algorithm}, ${r.verity.dataBlocks} data blocks of ${r.verity.dataBlockSize}, salt ${r.verity.salt}`,
        );
      }
      if (r.created) this.log(`Created:     ${r.created}`);
      this.log('Artifacts:');
      for (const a of report.artifacts ?? []) {
        this.log(
          `  ${a.name.padEnd(20)} ${a.path.padEnd(24)} ${formatBytes(a.size).padStart(10)}  ${a.status}`,
        );
      }
    } else if (report.filesystem) {
      const fs = report.filesystem;
      this.log(`Filesystem:  ${fs.type}`);
      this.log(`Size:        ${formatBytes(fs.size)} (${fs.size} bytes; file ${report.size} bytes)`);
      this.log(`Block size:  ${fs.blockSize}`);
      if (fs.uuid) this.log(`UUID:        ${fs.uuid}`);
      if (fs.label) this.log(`Label:       ${fs.label}`);
      if (fs.compression) this.log(`Compression: ${fs.compression}`);
      if (fs.inodes !== undefined) this.log(`Inodes:      ${fs.inodes}`);
    } else if (report.verity) {
      const v = report.verity;
      this.log(`Verity hash: ${v.algorithm}, format ${v.hashType}, uuid ${v.uuid}`);
      this.log(
        `Data:        ${v.dataBlocks} blocks of ${v.dataBlockSize}; hash blocks of ${v.hashBlockSize}`,
      );
      this.log(`Salt:        ${v.salt}`);
    }
    if (report.disk) {
      const d = report.disk;
      this.log(
        `Disk:       ${report.kind === 'disk' ? ` ${formatBytes(report.size)},` : ''} GUID ${d.diskGuid}, table read from the ${d.tableSource} copy`,
      );
      this.log(
        `  ${'#'.padStart(2)}  ${'label'.padEnd(20)} ${'type'.padEnd(22)} ${'offset'.padStart(10)} ${'size'.padStart(10)}  content`,
      );
      for (const p of d.partitions) {
        const extra = [
          ...p.flags,
          ...(p.gptprio
            ? [
                `prio=${p.gptprio.priority} tries=${p.gptprio.tries}${p.gptprio.successful ? ' successful' : ''}`,
              ]
            : []),
        ];
        this.log(
          `  ${String(p.number).padStart(2)}  ${p.label.padEnd(20)} ${(p.typeName ?? p.typeGuid).padEnd(22)} ${formatBytes(p.offset).padStart(10)} ${formatBytes(p.size).padStart(10)}  ${describeContent(p)}${extra.length ? ` [${extra.join(', ')}]` : ''}`,
        );
      }
    }
    for (const problem of report.problems) this.log(`problem: ${problem}`);
    if (!report.ok) this.exitCodeOnSuccess = 1;
    return report;
  }
}
