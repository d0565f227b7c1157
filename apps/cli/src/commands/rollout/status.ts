import { type RolloutStatusReport, rolloutStatus } from '@drover/rollout';
import { Args } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { assertId, stateFlag, statusLines, storeAt } from './shared.js';

export default class RolloutStatus extends DroverCommand {
  static override summary = 'Show where a rollout stands, from its journal';
  static override examples = [
    '<%= config.bin %> rollout status web',
    '<%= config.bin %> rollout status web --json',
  ];
  static override args = { id: Args.string({ required: true, description: 'Rollout id.' }) };
  static override flags = { state: stateFlag };

  async run(): Promise<RolloutStatusReport> {
    const { args, flags } = await this.parse(RolloutStatus);
    assertId(args.id);
    const report = await rolloutStatus({ id: args.id, store: storeAt(flags.state) }, this.context());
    for (const line of statusLines(report)) this.log(line);
    return report;
  }
}
