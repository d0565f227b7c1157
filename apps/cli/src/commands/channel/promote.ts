import { DroverError, isDigest } from '@drover/core';
import { type ChannelPointer, digestOfRef, LocalStore } from '@drover/provider-local';
import { Args } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { storeDirFlag } from '../fleet/shared.js';

export default class ChannelPromote extends DroverCommand {
  static override summary = 'Point a channel at a published image (atomically)';
  static override description =
    'IMAGE is a reference printed by `drover publish` (local:sha256:… or sha256:…) or another channel, so ' +
    '`drover channel promote stable canary` moves stable to what canary runs.';
  static override examples = [
    '<%= config.bin %> channel promote canary local:sha256:4f1c…',
    '<%= config.bin %> channel promote stable canary',
  ];
  static override args = {
    channel: Args.string({ required: true, description: 'Channel to move (stable, canary, …).' }),
    image: Args.string({ required: true, description: 'Image reference, or a channel to copy.' }),
  };
  static override flags = { store: storeDirFlag };

  async run(): Promise<ChannelPointer> {
    const { args, flags } = await this.parse(ChannelPromote);
    const ctx = this.context();
    const store = await LocalStore.open({ dir: flags.store });
    const looksLikeRef = args.image.startsWith('local:') || isDigest(args.image);
    const ref = looksLikeRef
      ? { uri: args.image, digest: digestOfRef(args.image) }
      : await store.resolve(args.image, ctx);
    if (!ref) {
      throw new DroverError('CHANNEL_EMPTY', `channel ${args.image} points nowhere`, {
        kind: 'not-found',
        hint: 'Pass an image reference from `drover publish`, or a channel that has been promoted.',
      });
    }
    await store.promote(args.channel, ref, ctx);
    const pointer = (await store.channel(args.channel, ctx)) as ChannelPointer;
    this.log(
      `Channel ${args.channel} -> ${pointer.ref.uri}${pointer.previous ? ` (was ${pointer.previous.uri})` : ''}`,
    );
    return pointer;
  }
}
