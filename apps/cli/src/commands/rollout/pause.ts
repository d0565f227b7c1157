import { type ControlResult, RolloutControlCommand } from './control.js';

export default class RolloutPause extends RolloutControlCommand {
  static override summary = 'Pause a rollout: in-flight members finish, nothing new starts';
  static override examples = ['<%= config.bin %> rollout pause web'];
  static override args = RolloutControlCommand.args;
  static override flags = RolloutControlCommand.flags;
  protected readonly action = 'pause' as const;

  async run(): Promise<ControlResult> {
    const { args, flags } = await this.parse(RolloutPause);
    return this.control(args, flags);
  }
}
