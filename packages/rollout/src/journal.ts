import type { ImageRef } from '@drover/core';
import type { RolloutSpec } from './schema.js';
import type { JournalEntry } from './store.js';

/** What a rollout's journal says, folded: the input to resume and to `status`. */
export interface JournalView {
  start?: StartEntry;
  /** Forward outcome per member: done, failed, or an intent with no outcome yet. */
  forward: Map<string, 'done' | 'failed' | 'uncertain' | 'not-applied'>;
  rollback: Map<string, 'done' | 'failed' | 'uncertain' | 'not-applied'>;
  /** Stage progress events seen, by stage index. */
  stageEvents: Map<number, Set<string>>;
  /** When each stage's members finished (for resuming a bake). */
  membersDoneAt: Map<number, number>;
  approved: Set<number>;
  paused: boolean;
  halt?: { reason: string; rollback: boolean };
  status?: { status: string; reason?: string };
  /** Index of the intent entry without outcome, per member (for reconcile). */
  uncertainOp: Map<string, 'update' | 'replace' | 'rollback'>;
  entries: number;
}

export interface StartEntry {
  type: 'start';
  at: number;
  spec: string;
  /** The spec the rollout runs, so resume needs nothing but the id. */
  specDocument?: RolloutSpec;
  target: ImageRef;
  previous?: ImageRef;
  /** Members when the rollout started: [id, zone, region, seed, image digest, image uri]. */
  members: [string, string | null, string | null, number | null, string | null, string | null][];
  /** Members already on the target when it started. */
  already: string[];
}

/** Fold journal entries into a view. */
export function foldJournal(entries: readonly JournalEntry[], view?: JournalView, from = 0): JournalView {
  const v: JournalView = view ?? {
    forward: new Map(),
    rollback: new Map(),
    stageEvents: new Map(),
    membersDoneAt: new Map(),
    approved: new Set(),
    paused: false,
    uncertainOp: new Map(),
    entries: 0,
  };
  for (let i = from; i < entries.length; i++) {
    const e = entries[i] as JournalEntry & Record<string, unknown>;
    switch (e.type) {
      case 'start':
        v.start = e as unknown as StartEntry;
        break;
      case 'intent': {
        const map = e.op === 'rollback' ? v.rollback : v.forward;
        map.set(e.member as string, 'uncertain');
        v.uncertainOp.set(e.member as string, e.op as 'update' | 'replace' | 'rollback');
        break;
      }
      case 'outcome': {
        const map = e.op === 'rollback' ? v.rollback : v.forward;
        map.set(e.member as string, e.notApplied ? 'not-applied' : e.ok ? 'done' : 'failed');
        v.uncertainOp.delete(e.member as string);
        break;
      }
      case 'stage': {
        const idx = e.stage as number;
        let set = v.stageEvents.get(idx);
        if (!set) {
          set = new Set();
          v.stageEvents.set(idx, set);
        }
        set.add(e.event as string);
        if (e.event === 'members-done') v.membersDoneAt.set(idx, e.at as number);
        break;
      }
      case 'control':
        if (e.action === 'pause') v.paused = true;
        if (e.action === 'resume') v.paused = false;
        if (e.action === 'approve' && typeof e.stage === 'number') v.approved.add(e.stage);
        if (e.action === 'abort' && !v.halt)
          v.halt = { reason: `aborted by ${String(e.by ?? 'an operator')}`, rollback: false };
        if (e.action === 'rollback')
          v.halt = { reason: `rollback requested by ${String(e.by ?? 'an operator')}`, rollback: true };
        break;
      case 'halt':
        v.halt = { reason: e.reason as string, rollback: Boolean(e.rollback) };
        break;
      case 'status':
        v.status = { status: e.status as string, ...(e.reason ? { reason: e.reason as string } : {}) };
        break;
    }
  }
  v.entries = entries.length;
  return v;
}
