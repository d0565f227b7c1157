import { formatDuration, loadRolloutSpec, planRollout, type RolloutPlan } from '@drover/rollout';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { readFleetDescription, renderTimeline } from './shared.js';

export default class RolloutPlanCommand extends DroverCommand {
  static override summary = 'Simulate a rollout on a virtual clock and print its timeline';
  static override description =
    'Runs the real rollout engine against a simulated copy of the fleet (from a fleet description file) and ' +
    'predicts the waves, bakes, gates, maintenance-window waits, duration and the worst number of members ' +
    'unavailable at once. Preflight problems (a budget that allows no disruption, surge without capacity, a gate ' +
    'that cannot be evaluated) fail the plan. Faults listed in the fleet file are injected.';
  static override examples = [
    '<%= config.bin %> rollout plan examples/rollouts/canary.yaml --fleet examples/rollouts/fleet.yaml',
    '<%= config.bin %> rollout plan examples/rollouts/waves.yaml --fleet examples/rollouts/fleet.yaml --start 2026-11-23T02:00:00Z --json',
  ];
  static override args = { spec: Args.string({ required: true, description: 'Rollout spec (YAML).' }) };
  static override flags = {
    fleet: Flags.string({
      required: true,
      summary: 'Simulated fleet description (YAML or JSON): members or zones, updateTime, faults.',
    }),
    start: Flags.string({ summary: 'When the simulated rollout starts (RFC 3339; default now).' }),
  };

  async run(): Promise<RolloutPlan> {
    const { args, flags } = await this.parse(RolloutPlanCommand);
    const ctx = this.context();
    const { spec } = await loadRolloutSpec({ path: args.spec }, ctx);
    const fleet = await readFleetDescription(flags.fleet);
    const plan = await planRollout({ spec, fleet, ...(flags.start ? { startAt: flags.start } : {}) }, ctx);
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
    return plan;
  }
}
