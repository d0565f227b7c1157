import {
  formatDuration,
  loadRolloutSpec,
  planRollout,
  type RolloutPlan,
  type SimFleetDescription,
  type VerifyImage,
} from '@drover/rollout';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { readFleetDescription, renderTimeline } from './shared.js';
import {
  fleetFlag,
  imageFlag,
  imageVerifier,
  openLocalFleet,
  parseFleetFlag,
  policyFlag,
  type RolloutImageInfo,
  resolveSpecImage,
  storeFlag,
  storeFor,
} from './target.js';

export default class RolloutPlanCommand extends DroverCommand {
  static override summary = 'Simulate a rollout on a virtual clock and print its timeline';
  static override description =
    'Runs the real rollout engine against a simulated copy of the fleet and predicts the waves, bakes, gates, ' +
    'maintenance-window waits, duration and the worst number of members unavailable at once. The fleet is a ' +
    'local fleet (--fleet local:DIR, default .drover/fleet: its nodes as they are now, each taking --update-time, ' +
    'and the image must be signed under --policy) or a description file (--fleet file:PATH: members or zones, ' +
    'updateTime, injected faults). Preflight problems (a budget that allows no disruption, surge without capacity, ' +
    'a gate that cannot be evaluated, an image that does not verify) fail the plan.';
  static override examples = [
    '<%= config.bin %> rollout plan examples/rollouts/canary.yaml --fleet examples/rollouts/fleet.yaml',
    '<%= config.bin %> rollout plan examples/rollouts/waves.yaml --fleet examples/rollouts/fleet.yaml --start 2026-11-23T02:00:00Z --json',
  ];
  static override args = { spec: Args.string({ required: true, description: 'Rollout spec (YAML).' }) };
  static override flags = {
    fleet: fleetFlag,
    store: storeFlag,
    policy: policyFlag,
    image: imageFlag,
    start: Flags.string({ summary: 'When the simulated rollout starts (RFC 3339; default now).' }),
    'update-time': Flags.string({
      summary: 'Time one local node takes to update, reboot and pass its health check (local fleets).',
      default: '5s',
    }),
  };

  async run(): Promise<RolloutPlan & { image?: RolloutImageInfo }> {
    const { args, flags } = await this.parse(RolloutPlanCommand);
    const ctx = this.context();
    const loaded = await loadRolloutSpec({ path: args.spec }, ctx);
    let spec = loaded.spec;
    let image: RolloutImageInfo | undefined;
    let verifyImage: VerifyImage | undefined;
    const selection = await parseFleetFlag(flags.fleet);
    let fleet: SimFleetDescription;
    if (selection.kind === 'local') {
      // The simulation starts from what the local nodes run now; the image must verify as for a real start.
      const local = await openLocalFleet(selection);
      const store = await storeFor(selection, flags.store, local);
      ({ spec, image } = await resolveSpecImage(spec, store, flags.image, ctx));
      verifyImage = imageVerifier(store, flags.policy, () => undefined);
      fleet = {
        updateTime: flags['update-time'],
        members: (await local.members(ctx)).map((m) => ({
          id: m.id,
          ...(m.region ? { region: m.region } : {}),
          ...(m.zone ? { zone: m.zone } : {}),
          ...(m.seed !== undefined ? { seed: m.seed } : {}),
          ...(m.image ? { image: m.image } : {}),
        })),
      };
    } else {
      if (flags.image || loaded.channel !== undefined) {
        ({ spec, image } = await resolveSpecImage(
          spec,
          await storeFor(selection, flags.store),
          flags.image,
          ctx,
        ));
      }
      fleet = await readFleetDescription(selection.path);
    }
    const plan = await planRollout(
      {
        spec,
        fleet,
        ...(flags.start ? { startAt: flags.start } : {}),
        ...(verifyImage ? { verifyImage } : {}),
      },
      ctx,
    );
    const s = this.style;
    this.log(`${s.bold(`plan for ${spec.name}`)}: ${plan.status}${plan.reason ? ` (${plan.reason})` : ''}`);
    this.log(
      `members ${plan.members.total} (${plan.members.alreadyCurrent} already current), ${formatDuration(plan.perMemberMs)} per member`,
    );
    this.log('');
    for (const st of plan.stages) {
      const extra = [
        st.bakeMs ? `bake ${formatDuration(st.bakeMs)}` : '',
        st.gates.length ? `gates ${st.gates.join(', ')}` : '',
        st.approval ? 'manual approval' : '',
      ]
        .filter(Boolean)
        .join(', ');
      this.log(
        `step ${st.index + 1}  ${st.name.padEnd(28)} ${String(st.members).padStart(6)} member(s)  ${st.start ?? '-'} → ${st.end ?? '-'}${extra ? s.dim(`  ${extra}`) : ''}`,
      );
    }
    this.log('');
    for (const line of renderTimeline(plan.timeline)) this.log(s.dim(line));
    this.log('');
    this.log(
      `predicted duration ${formatDuration(plan.predictedDurationMs)} (lower bound ${formatDuration(plan.lowerBoundMs)}), finishing ${plan.finishAt}`,
    );
    this.log(
      `worst case ${plan.worstCaseUnavailable} member(s) unavailable at once (budget at start ${plan.budgetAtStart})`,
    );
    return { ...plan, ...(image ? { image } : {}) };
  }
}
