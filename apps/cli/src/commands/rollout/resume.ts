import { type RolloutResult, resumeRollout, rolloutSpecOf } from '@drover/rollout';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { EXIT_CODES } from '../../exit-codes.js';
import { assertId, stateFlag, storeAt, summaryLines } from './shared.js';
import { fleetLabel, openRolloutFleet, ProgressPrinter, type RolloutRunResult } from './target.js';

export default class RolloutResume extends DroverCommand {
  static override summary = 'Continue a rollout after a pause, an approval or a controller crash';
  static override description =
    'Rebuilds its view from the journal and from the fleet’s actual state (members whose action has no recorded ' +
    'outcome are looked at, waited for and recorded), then continues without exceeding a budget or updating a ' +
    'member twice. Drives the fleet the rollout started on (recorded in <state>/<id>.target.json; file-backed ' +
    'otherwise). Waits for a crashed controller’s lease to expire.';
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

  async run(): Promise<RolloutRunResult> {
    const { args, flags } = await this.parse(RolloutResume);
    assertId(args.id);
    const ctx = this.context();
    const store = storeAt(flags.state);
    const spec = await rolloutSpecOf({ id: args.id, store }, ctx);
    const opened = await openRolloutFleet(flags.state, args.id, {
      ...(flags.fleet ? { fleetFile: flags.fleet } : {}),
      memberMs: flags['member-time'],
    });
    const members = opened.store ? (await opened.fleet.members(ctx)).length : 0;
    const progress = new ProgressPrinter(members, (line) => ctx.logger?.info(line));
    const result: RolloutResult = await resumeRollout(
      {
        id: args.id,
        spec,
        fleet: opened.fleet,
        store,
        waitForLease: true,
        onEvent: progress.onEvent,
        ...(opened.store ? { onMember: progress.onMember } : {}),
      },
      ctx,
    );
    for (const line of summaryLines(result)) this.log(line);
    if (result.status === 'aborted' || result.status === 'rolled-back')
      this.exitCodeOnSuccess = EXIT_CODES.failed;
    return { ...result, fleet: fleetLabel(opened.selection) };
  }
}
