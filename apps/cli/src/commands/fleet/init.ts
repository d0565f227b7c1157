import { DroverError, type ImageRef } from '@drover/core';
import { digestOfRef, LocalFleet, type LocalNodeSpec, LocalStore, localRefOf } from '@drover/provider-local';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { fleetDirFlag, parseSize, storeDirFlag } from './shared.js';

/** What `drover fleet init --json` prints. */
export interface FleetInitResult {
  provider: 'local';
  dir: string;
  store: string;
  nodes: LocalNodeSpec[];
  image?: ImageRef;
}

export default class FleetInit extends DroverCommand {
  static override summary = 'Create a fleet: N local nodes, each a GPT disk with A/B banks';
  static override description =
    'Each node gets a directory under --dir with a sparse GPT disk (Bottlerocket-style banks A and B), its state ' +
    'and its fault flags (touch nodes/<id>/fail-next-boot or nodes/<id>/unhealthy to make the next boot or the ' +
    'health checks fail). With --image or --channel, bank A of every node starts with that image, verified.';
  static override examples = [
    '<%= config.bin %> fleet init local --nodes 8',
    '<%= config.bin %> fleet init local --nodes 8 --channel stable --zones eu-west-1a,eu-west-1b',
  ];
  static override args = {
    provider: Args.string({ required: true, options: ['local'], description: 'Fleet provider.' }),
  };
  static override flags = {
    nodes: Flags.integer({ summary: 'How many nodes.', default: 3, min: 1, max: 999 }),
    dir: fleetDirFlag,
    store: storeDirFlag,
    zones: Flags.string({
      summary: 'Comma-separated zones (`zone` or `region/zone`) to spread the nodes over.',
      default: 'zone-a,zone-b,zone-c',
    }),
    region: Flags.string({ summary: 'Region of zones given without one.', default: 'local' }),
    image: Flags.string({ summary: 'Published image (local:sha256:…) for bank A.', exclusive: ['channel'] }),
    channel: Flags.string({ summary: 'Start every node on the image this channel points to.' }),
    'root-size': Flags.string({ summary: 'Size of each bank root partition.', default: '8MiB' }),
    'hash-size': Flags.string({ summary: 'Size of each bank hash partition.', default: '1MiB' }),
  };

  async run(): Promise<FleetInitResult> {
    const { flags } = await this.parse(FleetInit);
    const ctx = this.context();
    let image: ImageRef | undefined;
    if (flags.image) image = localRefOf(digestOfRef(flags.image));
    if (flags.channel) {
      const store = await LocalStore.open({ dir: flags.store });
      image = await store.resolve(flags.channel, ctx);
      if (!image) {
        throw new DroverError('CHANNEL_EMPTY', `channel ${flags.channel} points nowhere`, {
          kind: 'not-found',
          hint: 'Promote an image first: drover channel promote <channel> <ref>.',
        });
      }
    }
    const fleet = await LocalFleet.init(
      {
        dir: flags.dir,
        store: flags.store,
        nodes: flags.nodes,
        zones: flags.zones
          .split(',')
          .map((z) => z.trim())
          .filter(Boolean),
        region: flags.region,
        rootSize: parseSize(flags['root-size'], 'root-size'),
        hashSize: parseSize(flags['hash-size'], 'hash-size'),
        ...(image ? { image } : {}),
      },
      ctx,
    );
    this.log(
      `Created ${fleet.spec.nodes.length} local nodes in ${fleet.dir}${image ? ` running ${image.version ?? image.digest}` : ''}`,
    );
    return {
      provider: 'local',
      dir: fleet.dir,
      store: fleet.store.dir,
      nodes: fleet.spec.nodes,
      ...(image ? { image } : {}),
    };
  }
}
