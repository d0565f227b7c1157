import { diffImages, type ImageDiff, renderImageDiff } from '@drover/image';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';

export default class ImageDiffCommand extends DroverCommand {
  static override summary = 'Compare two built images: files, packages, partitions, sizes and root hashes';
  static override description =
    'OLD and NEW are build output directories (or their image.json). Files are compared from files.json, packages from the SPDX SBOMs, partitions and sizes from the records. --markdown prints a table for a pull-request comment.';
  static override examples = [
    '<%= config.bin %> image diff out/minimal-0.1.0 out/minimal-0.2.0',
    '<%= config.bin %> image diff old/image.json new/image.json --markdown > diff.md',
    '<%= config.bin %> image diff old new --json',
  ];
  static override args = {
    old: Args.string({ required: true, description: 'The older build output directory or image.json' }),
    new: Args.string({ required: true, description: 'The newer build output directory or image.json' }),
  };
  static override flags = {
    markdown: Flags.boolean({
      summary: 'Print Markdown tables (for a pull-request comment).',
      default: false,
    }),
    'max-files': Flags.integer({ summary: 'List at most this many changed files.', default: 50, min: 0 }),
  };

  async run(): Promise<ImageDiff> {
    const { args, flags } = await this.parse(ImageDiffCommand);
    const diff = await diffImages({ old: args.old, new: args.new }, this.context());
    const text = renderImageDiff(diff, {
      format: flags.markdown ? 'markdown' : 'text',
      maxFiles: flags['max-files'],
    });
    this.log(text.trimEnd());
    return diff;
  }
}
