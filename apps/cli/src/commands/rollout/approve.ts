import { Flags } from '@oclif/core';
import { type ControlResult, RolloutControlCommand } from './control.js';

export default class RolloutApprove extends RolloutControlCommand {
  static override summary = 'Approve the step a rollout is waiting on, and continue it';
  static override examples = ['<%= config.bin %> rollout approve web'];
  static override args = RolloutControlCommand.args;
  static override flags = {
    ...RolloutControlCommand.flags,
    step: Flags.integer({ summary: 'Step to approve (1-based; default the step that waits).', min: 1 }),
  };
  protected readonly action = 'approve' as const;

  async run(): Promise<ControlResult> {
    const { args, flags } = await this.parse(RolloutApprove);
    if (flags.step !== undefined) this.step = flags.step - 1;
    return this.control(args, flags);
  }
}
