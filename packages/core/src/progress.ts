import type { Context } from './context.js';

/** What a task counts: bytes (rendered as MiB/s) or items (files, members, blocks). */
export type ProgressUnit = 'bytes' | 'items';

/** A task began. `total` is absent when unknown (an indeterminate spinner). */
export interface ProgressStart {
  type: 'start';
  /** Unique among the tasks running at once, e.g. `verity.format:/out/root.hash`. */
  task: string;
  /** Human label, e.g. `hashing data`. */
  label: string;
  unit: ProgressUnit;
  total?: number;
}

/** A task moved forward; `completed` is cumulative, never a delta. */
export interface ProgressAdvance {
  type: 'advance';
  task: string;
  completed: number;
  total?: number;
}

/** A task ended, successfully or not. */
export interface ProgressDone {
  type: 'done';
  task: string;
  completed: number;
  ok: boolean;
}

export type ProgressEvent = ProgressStart | ProgressAdvance | ProgressDone;

/** A handle libraries use to report one task; it keeps the cumulative count. */
export interface ProgressTask {
  readonly task: string;
  readonly completed: number;
  /** Add `amount` to the count and report it. */
  advance(amount: number): void;
  /** Set the count (and, once known, the total). */
  update(completed: number, total?: number): void;
  /** Report the end of the task; later calls do nothing. */
  done(ok?: boolean): void;
}

export interface StartProgressOptions {
  task: string;
  label: string;
  unit: ProgressUnit;
  total?: number;
}

/** Start a task on the context's progress sink and return a handle for it. */
export function startProgress(ctx: Context | undefined, options: StartProgressOptions): ProgressTask {
  const emit = ctx?.onProgress;
  const { task, label, unit, total } = options;
  let completed = 0;
  let knownTotal = total;
  let finished = false;
  const start: ProgressStart = { type: 'start', task, label, unit };
  if (total !== undefined) start.total = total;
  emit?.(start);
  const report = (): void => {
    if (!emit || finished) return;
    const event: ProgressAdvance = { type: 'advance', task, completed };
    if (knownTotal !== undefined) event.total = knownTotal;
    emit(event);
  };
  return {
    task,
    get completed() {
      return completed;
    },
    advance(amount) {
      completed += amount;
      report();
    },
    update(value, newTotal) {
      completed = value;
      if (newTotal !== undefined) knownTotal = newTotal;
      report();
    },
    done(ok = true) {
      if (finished) return;
      finished = true;
      emit?.({ type: 'done', task, completed, ok });
    },
  };
}
