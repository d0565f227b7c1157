import { loadRolloutSpec, startRollout } from '@drover/rollout';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { EXIT_CODES } from '../../exit-codes.js';
import { assertId, fileFleetFor, readFleetDescription, stateFlag, storeAt, summaryLines } from './shared.js';
import {
  fleetFlag,
  fleetLabel,
  imageFlag,
  imageSummaryLines,
  imageVerifier,
  openLocalFleet,
  ProgressPrinter,
  parseFleetFlag,
  policyFlag,
  type RolloutImageInfo,
  type RolloutRunResult,
  recordTarget,
  resolveSpecImage,
  type SignatureInfo,
  storeFlag,
  storeFor,
} from './target.js';

export default class RolloutStart extends DroverCommand {
  static override summary = 'Start a rollout and drive it until it completes, pauses or halts';
  static override description =
    'Journals every intended member action durably before calling the fleet and its outcome after, under a lease. ' +
    'With a local fleet (--fleet local:DIR, the default .drover/fleet) the image is resolved from the fleet’s ' +
    'store (the spec’s `image: { channel: NAME }` or digest, or --image) and its signature must verify under ' +
    '--policy before any node is touched (IMAGE_NOT_VERIFIED otherwise). --fleet file:PATH drives a simulated ' +
    'file-backed fleet (<state>/<id>.fleet.json, created from the description). Progress goes to stderr; exits 1 ' +
    'when the rollout halted (aborted or rolled back).';
  static override examples = [
    '<%= config.bin %> rollout start examples/rollouts/local-canary.yaml --fleet local:.drover/fleet',
    '<%= config.bin %> rollout start examples/rollouts/local-canary.yaml --image stable --id canary-2',
    '<%= config.bin %> rollout start examples/rollouts/canary.yaml --fleet file:examples/rollouts/fleet.yaml',
  ];
  static override args = { spec: Args.string({ required: true, description: 'Rollout spec (YAML).' }) };
  static override flags = {
    fleet: fleetFlag,
    store: storeFlag,
    policy: policyFlag,
    image: imageFlag,
    id: Flags.string({ summary: 'Rollout id (default: the spec name).' }),
    state: stateFlag,
    'member-time': Flags.integer({
      summary: 'Milliseconds a file-backed member takes to update.',
      default: 0,
    }),
  };

  async run(): Promise<RolloutRunResult> {
    const { args, flags } = await this.parse(RolloutStart);
    const ctx = this.context();
    const loaded = await loadRolloutSpec({ path: args.spec }, ctx);
    const id = flags.id ?? loaded.spec.name;
    assertId(id);
    const selection = await parseFleetFlag(flags.fleet);
    let spec = loaded.spec;
    let image: RolloutImageInfo | undefined;
    let signature: SignatureInfo | undefined;
    let run: Parameters<typeof startRollout>[0];
    const print = (line: string) => ctx.logger?.info(line);
    if (selection.kind === 'local') {
      const fleet = await openLocalFleet(selection);
      const store = await storeFor(selection, flags.store, fleet);
      ({ spec, image } = await resolveSpecImage(spec, store, flags.image, ctx));
      const members = await fleet.members(ctx);
      const progress = new ProgressPrinter(members.length, print);
      print(
        `rolling ${image.name} ${image.version} (${image.ref.digest.slice(0, 19)}…, ${image.from}) out to ${members.length} local nodes in ${fleet.dir}`,
      );
      await recordTarget(flags.state, id, {
        fleet: fleetLabel(selection),
        store: store.dir,
        policy: flags.policy,
      });
      run = {
        id,
        spec,
        fleet,
        store: storeAt(flags.state),
        verifyImage: imageVerifier(store, flags.policy, (info) => {
          signature = info;
          print(
            `signature of ${image?.version} verified under ${info.policy} (signed by ${info.signer.keyName ?? info.signer.subject})`,
          );
        }),
        onEvent: progress.onEvent,
        onMember: progress.onMember,
      };
    } else {
      if (flags.image || loaded.channel !== undefined) {
        const store = await storeFor(selection, flags.store);
        ({ spec, image } = await resolveSpecImage(spec, store, flags.image, ctx));
      }
      const progress = new ProgressPrinter(0, print);
      run = {
        id,
        spec,
        fleet: await fileFleetFor(
          flags.state,
          id,
          await readFleetDescription(selection.path),
          flags['member-time'],
        ),
        store: storeAt(flags.state),
        onEvent: progress.onEvent,
      };
    }
    const result = await startRollout(run, ctx);
    const out: RolloutRunResult = {
      ...result,
      fleet: fleetLabel(selection),
      ...(image ? { image } : {}),
      ...(signature ? { signature } : {}),
    };
    for (const line of summaryLines(result)) this.log(line);
    if (image) for (const line of imageSummaryLines(image, signature)) this.log(line);
    if (result.status === 'rolled-back' || result.status === 'aborted')
      this.exitCodeOnSuccess = EXIT_CODES.failed;
    return out;
  }
}
