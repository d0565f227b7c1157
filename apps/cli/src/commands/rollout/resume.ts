import { type RolloutResult, resumeRollout, rolloutSpecOf } from '@drover/rollout';
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

export default class RolloutResume extends DroverCommand {
  static override summary = 'Continue a rollout after a pause, an approval or a controller crash';
  static override description =
    'Rebuilds its view from the journal and from the fleet’s actual state (members whose action has no recorded ' +
    'outcome are looked at, waited for and recorded), then continues without exceeding a budget or updating a ' +
    'member twice. Waits for a crashed controller’s lease to expire.';
  static override examples = ['<%= config.bin %> rollout resume web'];
  static override args = { id: Args.string({ required: true, description: 'Rollout id.' }) };
  static override flags = {
    state: stateFlag,
    fleet: Flags.string({
      summary: 'Fleet description, only needed if the file-backed fleet does not exist yet.',
    }),
    'member-time': Flags.integer({
      summary: 'Milliseconds a file-backed member takes to update.',
      default: 0,
    }),
  };

  async run(): Promise<RolloutResult> {
    const { args, flags } = await this.parse(RolloutResume);
    assertId(args.id);
    const ctx = this.context();
    const store = storeAt(flags.state);
    const spec = await rolloutSpecOf({ id: args.id, store }, ctx);
    const fleet = await fileFleetFor(
      flags.state,
      args.id,
      flags.fleet ? await readFleetDescription(flags.fleet) : undefined,
      flags['member-time'],
    );
    const t0 = Date.now();
    const result = await resumeRollout(
      {
        id: args.id,
        spec,
        fleet,
        store,
        waitForLease: true,
        onEvent: (e) => ctx.logger?.info(renderTimeline([{ ...e, offsetMs: e.at - t0 }])[0] as string),
      },
      ctx,
    );
    for (const line of summaryLines(result)) this.log(line);
    if (result.status === 'aborted') this.exitCodeOnSuccess = EXIT_CODES.failed;
    return result;
  }
}
