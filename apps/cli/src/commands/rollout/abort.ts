import { type ControlResult, RolloutControlCommand } from './control.js';

export default class RolloutAbort extends RolloutControlCommand {
  static override summary = 'Abort a rollout: stop disrupting members, leave each on the image it runs';
  static override examples = ['<%= config.bin %> rollout abort web'];
  static override args = RolloutControlCommand.args;
  static override flags = RolloutControlCommand.flags;
  protected readonly action = 'abort' as const;

  async run(): Promise<ControlResult> {
    const { args, flags } = await this.parse(RolloutAbort);
    return this.control(args, flags);
  }
}
