import { type PushResult, parseLayoutReference, pushImage } from '@drover/oci';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { formatBytes } from '../../format.js';
import { registryAccess, registryFlags } from './flags.js';

export default class OciPush extends DroverCommand {
  static override summary = 'Push an image (or a multi-arch index) from an OCI layout to a registry';
  static override examples = [
    '<%= config.bin %> oci push ./base:1.2 ghcr.io/org/base:1.2',
    '<%= config.bin %> oci push oci:./base 127.0.0.1:5000/base:1 --insecure',
  ];
  static override args = {
    layout: Args.string({
      required: true,
      description: 'OCI layout as DIR[:TAG|@DIGEST] (the oci: prefix is optional)',
    }),
    reference: Args.string({ required: true, description: 'destination registry/repo:tag' }),
  };
  static override flags = {
    'mount-from': Flags.string({ summary: 'Repository on the same registry to mount existing blobs from.' }),
    concurrency: Flags.integer({ summary: 'Blobs uploaded at once.', default: 3, min: 1, max: 16 }),
    ...registryFlags,
  };

  async run(): Promise<PushResult> {
    const { args, flags } = await this.parse(OciPush);
    const { dir, reference } = parseLayoutReference(args.layout);
    const result = await pushImage(
      {
        layout: dir,
        reference: args.reference,
        concurrency: flags.concurrency,
        registry: registryAccess(flags),
        ...(reference ? { source: reference } : {}),
        ...(flags['mount-from'] ? { mountFrom: flags['mount-from'] } : {}),
      },
      this.context(),
    );
    const { uploaded, mounted, existing } = result.blobs;
    this.log(
      `Pushed ${result.reference} ${result.digest} (${uploaded} uploaded, ${mounted} mounted, ${existing} already there; ${formatBytes(result.bytes)})`,
    );
    return result;
  }
}
