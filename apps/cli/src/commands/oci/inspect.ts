import { type ImageInspection, inspectImage } from '@drover/oci';
import { Args } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { formatBytes } from '../../format.js';
import { platformFlag, platformOf, registryAccess, registryFlags } from './flags.js';

export default class OciInspect extends DroverCommand {
  static override summary =
    'Show an image’s manifest, config and layers with sizes (from a layout or a registry)';
  static override examples = [
    '<%= config.bin %> oci inspect oci:./base:1.2',
    '<%= config.bin %> oci inspect 127.0.0.1:5000/base:1 --insecure --json',
  ];
  static override args = {
    source: Args.string({
      required: true,
      description: 'oci:DIR[:TAG], a layout directory, or a registry reference',
    }),
  };
  static override flags = { platform: platformFlag, ...registryFlags };

  async run(): Promise<ImageInspection> {
    const { args, flags } = await this.parse(OciInspect);
    const platform = platformOf(flags.platform);
    const result = await inspectImage(
      { source: args.source, registry: registryAccess(flags), ...(platform ? { platform } : {}) },
      this.context(),
    );
    const lines = [
      `Image     ${result.source}`,
      `Digest    ${result.digest}`,
      `Type      ${result.mediaType}`,
      `Platform  ${result.platform}`,
    ];
    if (result.index) lines.push(`Index     ${result.index.digest} (${result.index.platforms.join(', ')})`);
    if (result.created) lines.push(`Created   ${result.created}`);
    lines.push(`Config    ${result.config.digest} (${formatBytes(result.config.size)})`);
    lines.push(`Layers    ${result.layers.length}, ${formatBytes(result.size)} in total`);
    for (const layer of result.layers)
      lines.push(`  ${layer.digest}  ${formatBytes(layer.size).padStart(10)}  ${layer.mediaType}`);
    this.log(lines.join('\n'));
    return result;
  }
}
