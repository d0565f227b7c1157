import { type ControlResult, RolloutControlCommand } from './control.js';

export default class RolloutRollback extends RolloutControlCommand {
  static override summary =
    'Roll members back to the previous image recorded in the rollout (never "latest")';
  static override examples = ['<%= config.bin %> rollout rollback web'];
  static override args = RolloutControlCommand.args;
  static override flags = RolloutControlCommand.flags;
  protected readonly action = 'rollback' as const;

  async run(): Promise<ControlResult> {
    const { args, flags } = await this.parse(RolloutRollback);
    return this.control(args, flags);
  }
}
