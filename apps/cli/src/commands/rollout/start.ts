import { loadRolloutSpec, type RolloutResult, startRollout } from '@drover/rollout';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { EXIT_CODES } from '../../exit-codes.js';
import {
  assertId,
  fileFleetFor,
  readFleetDescription,
  renderTimeline,
  stateFlag,
  storeAt,
  summaryLines,
} from './shared.js';

export default class RolloutStart extends DroverCommand {
  static override summary = 'Start a rollout and drive it until it completes, pauses or halts';
  static override description =
    'Journals every intended member action durably before calling the fleet and its outcome after, under a lease. ' +
    'Without a provider package the fleet is file-backed: <state>/<id>.fleet.json, created from --fleet. ' +
    'Exits 1 when the rollout halted (aborted or rolled back).';
  static override examples = [
    '<%= config.bin %> rollout start examples/rollouts/canary.yaml --fleet examples/rollouts/fleet.yaml',
  ];
  static override args = { spec: Args.string({ required: true, description: 'Rollout spec (YAML).' }) };
  static override flags = {
    fleet: Flags.string({
      required: true,
      summary: 'Fleet description used to create the file-backed fleet.',
    }),
    id: Flags.string({ summary: 'Rollout id (default: the spec name).' }),
    state: stateFlag,
    'member-time': Flags.integer({
      summary: 'Milliseconds a file-backed member takes to update.',
      default: 0,
    }),
  };

  async run(): Promise<RolloutResult> {
    const { args, flags } = await this.parse(RolloutStart);
    const ctx = this.context();
    const { spec } = await loadRolloutSpec({ path: args.spec }, ctx);
    const id = flags.id ?? spec.name;
    assertId(id);
    const fleet = await fileFleetFor(
      flags.state,
      id,
      await readFleetDescription(flags.fleet),
      flags['member-time'],
    );
    const t0 = Date.now();
    const result = await startRollout(
      {
        id,
        spec,
        fleet,
        store: storeAt(flags.state),
        onEvent: (e) => ctx.logger?.info(renderTimeline([{ ...e, offsetMs: e.at - t0 }])[0] as string),
      },
      ctx,
    );
    for (const line of summaryLines(result)) this.log(line);
    if (result.status === 'rolled-back' || result.status === 'aborted')
      this.exitCodeOnSuccess = EXIT_CODES.failed;
    return result;
  }
}
