import { isDroverError } from '@drover/core';
import {
  type ControlAction,
  controlRollout,
  type RolloutResult,
  type RolloutStatusReport,
  resumeRollout,
  rolloutSpecOf,
} from '@drover/rollout';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { assertId, byFlag, stateFlag, statusLines, storeAt, summaryLines } from './shared.js';
import { openRolloutFleet } from './target.js';

/** What a control verb prints with --json: the status after recording, and the run it triggered (if any). */
export interface ControlResult {
  recorded: ControlAction;
  status: RolloutStatusReport;
  run?: RolloutResult;
  /** Set when another controller holds the lease and will act on the decision. */
  deferredTo?: string;
}

/** Shared body of pause, abort, rollback and approve: record the decision, then act on it if nobody else drives the rollout. */
export abstract class RolloutControlCommand extends DroverCommand {
  static override args = { id: Args.string({ required: true, description: 'Rollout id.' }) };
  static override flags = {
    state: stateFlag,
    by: byFlag,
    'no-run': Flags.boolean({ summary: 'Only record the decision; do not drive the rollout now.' }),
  };
  protected abstract readonly action: ControlAction;
  protected step?: number;

  async control(
    args: { id: string },
    flags: { state: string; by: string; 'no-run': boolean },
  ): Promise<ControlResult> {
    assertId(args.id);
    const ctx = this.context();
    const store = storeAt(flags.state);
    const status = await controlRollout(
      {
        id: args.id,
        store,
        action: this.action,
        by: flags.by,
        ...(this.step !== undefined ? { stage: this.step } : {}),
      },
      ctx,
    );
    const out: ControlResult = { recorded: this.action, status };
    if (this.action !== 'pause' && !flags['no-run']) {
      try {
        const spec = await rolloutSpecOf({ id: args.id, store }, ctx);
        const { fleet } = await openRolloutFleet(flags.state, args.id, { memberMs: 0 });
        out.run = await resumeRollout({ id: args.id, spec, fleet, store }, ctx);
        out.status = await controlStatus(args.id, flags.state);
      } catch (error) {
        if (!isDroverError(error, 'LOCK_HELD')) throw error;
        out.deferredTo = String(
          (error.details as { holder?: string } | undefined)?.holder ?? 'another controller',
        );
      }
    }
    this.log(
      `recorded ${this.action} for ${args.id}${out.deferredTo ? `; ${out.deferredTo} will act on it` : ''}`,
    );
    for (const line of out.run ? summaryLines(out.run) : statusLines(out.status)) this.log(line);
    return out;
  }
}

async function controlStatus(id: string, state: string): Promise<RolloutStatusReport> {
  const { rolloutStatus } = await import('@drover/rollout');
  return rolloutStatus({ id, store: storeAt(state) });
}
