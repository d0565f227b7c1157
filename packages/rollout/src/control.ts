import { type Context, DroverError, type ImageRef, type StateStore } from '@drover/core';
import { foldJournal } from './journal.js';
import type { RolloutSpec } from './schema.js';

export type ControlAction = 'pause' | 'resume' | 'abort' | 'rollback' | 'approve';

export interface ControlRolloutOptions {
  id: string;
  store: StateStore;
  action: ControlAction;
  /** Who asks (recorded in the journal). */
  by?: string;
  /** For approve: the step (0-based) to approve; default the step that waits. */
  stage?: number;
  now?: number;
}

/** Where a rollout stands, from its journal alone. */
export interface RolloutStatusReport {
  id: string;
  spec?: string;
  target?: ImageRef;
  previous?: ImageRef;
  /** Last recorded status (completed, paused, …), or `running` when the journal shows no end. */
  status: string;
  reason?: string;
  paused: boolean;
  halted?: { reason: string; rollback: boolean };
  /** Step waiting for approval, if any. */
  awaitingApproval?: number;
  stagesCompleted: number;
  members: {
    total: number;
    updated: number;
    failed: number;
    rolledBack: number;
    inFlight: number;
    alreadyCurrent: number;
  };
  startedAt?: string;
  lastEntryAt?: string;
  entries: number;
}

/** Read a rollout's journal and summarise it. */
export async function rolloutStatus(
  options: { id: string; store: StateStore },
  ctx: Context = {},
): Promise<RolloutStatusReport> {
  const entries = await options.store.read(options.id, ctx);
  if (entries.length === 0) {
    throw new DroverError('ROLLOUT_NOT_FOUND', `no rollout ${options.id}`, {
      kind: 'not-found',
      hint: 'Check the id and --state directory.',
    });
  }
  const v = foldJournal(entries);
  let updated = 0;
  let failed = 0;
  let inFlight = 0;
  let rolledBack = 0;
  for (const [id, s] of v.forward) {
    if (v.rollback.get(id) === 'done') continue;
    if (s === 'done') updated++;
    if (s === 'failed') failed++;
    if (s === 'uncertain') inFlight++;
  }
  for (const s of v.rollback.values()) {
    if (s === 'done') rolledBack++;
    if (s === 'uncertain') inFlight++;
  }
  let awaiting: number | undefined;
  for (const [stage, events] of v.stageEvents)
    if (events.has('awaiting-approval') && !v.approved.has(stage)) awaiting = stage;
  let completed = 0;
  for (const events of v.stageEvents.values()) if (events.has('completed')) completed++;
  const last = entries[entries.length - 1] as { at?: number; type?: string };
  const ended = last.type === 'status';
  const report: RolloutStatusReport = {
    id: options.id,
    status: ended && v.status ? v.status.status : 'running',
    paused: v.paused,
    stagesCompleted: completed,
    members: {
      total: v.start?.members.length ?? 0,
      updated,
      failed,
      rolledBack,
      inFlight,
      alreadyCurrent: v.start?.already.length ?? 0,
    },
    entries: entries.length,
  };
  if (ended && v.status?.reason) report.reason = v.status.reason;
  if (v.start) {
    report.spec = v.start.spec;
    report.target = v.start.target;
    if (v.start.previous) report.previous = v.start.previous;
    report.startedAt = new Date(v.start.at).toISOString();
  }
  if (v.halt) report.halted = v.halt;
  if (awaiting !== undefined) report.awaitingApproval = awaiting;
  if (typeof last.at === 'number') report.lastEntryAt = new Date(last.at).toISOString();
  return report;
}

/** The spec a rollout was started with (recorded in its journal). */
export async function rolloutSpecOf(
  options: { id: string; store: StateStore },
  ctx: Context = {},
): Promise<RolloutSpec> {
  const v = foldJournal(await options.store.read(options.id, ctx));
  if (!v.start?.specDocument) {
    throw new DroverError('ROLLOUT_NOT_FOUND', `rollout ${options.id} has no recorded spec`, {
      kind: 'not-found',
      hint: 'Check the id and --state directory.',
    });
  }
  return v.start.specDocument;
}

/**
 * Record an operator's decision in the journal: pause, resume, abort, rollback or approve. A running controller
 * picks it up within a second; a stopped one on its next `resume`.
 */
export async function controlRollout(
  options: ControlRolloutOptions,
  ctx: Context = {},
): Promise<RolloutStatusReport> {
  const before = await rolloutStatus(options, ctx);
  const entry: Record<string, unknown> = {
    type: 'control',
    action: options.action,
    by: options.by ?? 'operator',
    at: options.now ?? Date.now(),
  };
  if (options.action === 'approve') {
    const stage = options.stage ?? before.awaitingApproval;
    if (stage === undefined) {
      throw new DroverError('NOTHING_TO_APPROVE', `rollout ${options.id} is not waiting for an approval`, {
        kind: 'conflict',
        hint: 'Approve when `drover rollout status` shows a step waiting, or name it with --step.',
      });
    }
    entry.stage = stage;
  }
  if (
    (options.action === 'abort' || options.action === 'pause') &&
    ['completed', 'rolled-back'].includes(before.status)
  ) {
    throw new DroverError(
      'ROLLOUT_FINISHED',
      `rollout ${options.id} has already ${before.status === 'completed' ? 'completed' : 'rolled back'}`,
      {
        kind: 'conflict',
        hint:
          before.status === 'completed'
            ? 'Use `drover rollout rollback` to go back to the previous image.'
            : 'Nothing to do.',
      },
    );
  }
  await options.store.append(options.id, entry, ctx);
  return rolloutStatus(options, ctx);
}
