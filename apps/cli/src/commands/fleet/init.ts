import { readFile } from 'node:fs/promises';
import {
  type Context,
  DroverError,
  type ImageRecord,
  type ImageRef,
  isDigest,
  toDroverError,
} from '@drover/core';
import {
  type BankSizes,
  bankSizesFor,
  digestOfRef,
  LocalFleet,
  type LocalNodeSpec,
  LocalStore,
  localRefOf,
} from '@drover/provider-local';
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
  /** Bytes of each bank's root and hash partition. */
  rootSize: number;
  hashSize: number;
  /** What the banks were sized for (--fit). */
  fit?: BankSizes & { image: string };
}

export default class FleetInit extends DroverCommand {
  static override summary = 'Create a fleet: N local nodes, each a GPT disk with A/B banks';
  static override description =
    'Each node gets a directory under --dir with a sparse GPT disk (Bottlerocket-style banks A and B), its state ' +
    'and its fault flags (touch nodes/<id>/fail-next-boot or nodes/<id>/unhealthy to make the next boot or the ' +
    'health checks fail). With --image or --channel, bank A of every node starts with that image, verified. ' +
    'Banks are 8 MiB root + 1 MiB hash unless --root-size/--hash-size say otherwise; --fit IMAGE sizes them for ' +
    'an image instead (its root and root-verity artifacts, or the verity data and tree inside its disk artifact, ' +
    'plus 50% headroom, rounded up to a MiB).';
  static override examples = [
    '<%= config.bin %> fleet init local --nodes 8',
    '<%= config.bin %> fleet init local --nodes 8 --channel stable --zones eu-west-1a,eu-west-1b',
    '<%= config.bin %> fleet init local --nodes 8 --fit .drover/out/ab-node/image.json',
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
    'root-size': Flags.string({ summary: 'Size of each bank root partition (default 8MiB).' }),
    'hash-size': Flags.string({ summary: 'Size of each bank hash partition (default 1MiB).' }),
    fit: Flags.string({
      summary:
        'Size the banks for this image: an image.json, a store reference or a channel (root and hash tree + 50%).',
      exclusive: ['root-size', 'hash-size'],
    }),
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
    let fit: FleetInitResult['fit'];
    if (flags.fit) {
      const record = await recordFor(flags.fit, flags.store, ctx);
      fit = { image: flags.fit, ...bankSizesFor(record) };
    }
    const rootSize = fit?.rootSize ?? parseSize(flags['root-size'] ?? '8MiB', 'root-size');
    const hashSize = fit?.hashSize ?? parseSize(flags['hash-size'] ?? '1MiB', 'hash-size');
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
        rootSize,
        hashSize,
        ...(image ? { image } : {}),
      },
      ctx,
    );
    this.log(
      `Created ${fleet.spec.nodes.length} local nodes in ${fleet.dir}${image ? ` running ${image.version ?? image.digest}` : ''}`,
    );
    this.log(
      `Banks: root ${rootSize / 1024 ** 2} MiB, hash ${hashSize / 1024 ** 2} MiB${fit ? ` (sized for ${flags.fit}: root ${fit.rootBytes} B, hash tree ${fit.hashBytes} B, +50%)` : ''}`,
    );
    return {
      provider: 'local',
      dir: fleet.dir,
      store: fleet.store.dir,
      nodes: fleet.spec.nodes,
      ...(image ? { image } : {}),
      rootSize,
      hashSize,
      ...(fit ? { fit } : {}),
    };
  }
}

/** The record `--fit` names: a channel or reference in the store, else an image.json file. */
async function recordFor(text: string, storeDir: string, ctx: Context): Promise<ImageRecord> {
  if (text.startsWith('local:') || isDigest(text)) {
    return (await LocalStore.open({ dir: storeDir })).record(text, ctx);
  }
  if (/^[a-z0-9][a-z0-9._-]{0,62}$/.test(text) && !text.endsWith('.json')) {
    const store = await LocalStore.open({ dir: storeDir });
    const ref = await store.resolve(text, ctx);
    if (ref) return store.record(ref, ctx);
  }
  let raw: string;
  try {
    raw = await readFile(text, 'utf8');
  } catch (error) {
    throw toDroverError(error, `reading the image record for --fit`);
  }
  try {
    return JSON.parse(raw) as ImageRecord;
  } catch (error) {
    throw new DroverError('FLEET_BAD_FIT', `--fit ${text} is not an image record`, {
      kind: 'usage',
      cause: error,
      hint: 'Pass the image.json written by `drover build`, a channel, or a local:sha256:… reference.',
    });
  }
}
