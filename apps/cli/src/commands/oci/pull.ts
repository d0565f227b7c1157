import { type PullResult, pullImage } from '@drover/oci';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { formatBytes } from '../../format.js';
import { platformFlag, platformOf, registryAccess, registryFlags } from './flags.js';

export default class OciPull extends DroverCommand {
  static override summary = 'Pull an image from a registry into an OCI image layout, verifying every digest';
  static override examples = [
    '<%= config.bin %> oci pull ghcr.io/org/base:1.2 --layout ./base',
    '<%= config.bin %> oci pull 127.0.0.1:5000/base:1 --layout ./base --insecure --platform linux/arm64',
  ];
  static override args = {
    reference: Args.string({
      required: true,
      description: 'image reference (registry/repo:tag or @sha256:…)',
    }),
  };
  static override flags = {
    layout: Flags.string({
      required: true,
      summary: 'OCI layout directory to pull into (created when missing).',
    }),
    platform: platformFlag,
    all: Flags.boolean({
      summary: 'Keep the whole multi-arch index and every platform (like skopeo copy --all).',
      default: false,
    }),
    tag: Flags.string({ summary: 'Tag to list the image under in the layout (default: the reference tag).' }),
    concurrency: Flags.integer({ summary: 'Blobs downloaded at once.', default: 6, min: 1, max: 16 }),
    ...registryFlags,
  };

  async run(): Promise<PullResult> {
    const { args, flags } = await this.parse(OciPull);
    const platform = platformOf(flags.platform);
    const result = await pullImage(
      {
        reference: args.reference,
        layout: flags.layout,
        all: flags.all,
        concurrency: flags.concurrency,
        registry: registryAccess(flags),
        ...(platform ? { platform } : {}),
        ...(flags.tag ? { tag: flags.tag } : {}),
      },
      this.context(),
    );
    this.log(
      `Pulled ${result.reference} ${result.digest} into ${result.layout}${result.tag ? `:${result.tag}` : ''} ` +
        `(${result.downloaded}/${result.blobs} blobs downloaded, ${formatBytes(result.bytes)})`,
    );
    return result;
  }
}
