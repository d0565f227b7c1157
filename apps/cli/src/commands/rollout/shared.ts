import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DroverError, toDroverError } from '@drover/core';
import {
  FileFleet,
  FileStateStore,
  formatDuration,
  parseFleetDescription,
  type RolloutResult,
  type RolloutStatusReport,
  type SimFleetDescription,
  type TimelineEvent,
} from '@drover/rollout';
import { Flags } from '@oclif/core';

/** Flags shared by the verbs that work on a stored rollout. */
export const stateFlag = Flags.string({
  summary: 'Directory holding rollout journals, leases and file-backed fleets.',
  default: '.drover/rollouts',
  env: 'DROVER_ROLLOUT_STATE',
});

export const byFlag = Flags.string({
  summary: 'Who is asking (recorded in the journal).',
  default: process.env.USER ?? 'operator',
});

export function storeAt(state: string): FileStateStore {
  return new FileStateStore(resolve(state));
}

export async function readFleetDescription(path: string): Promise<SimFleetDescription> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw toDroverError(error, 'reading the fleet description');
  }
  return parseFleetDescription({ text, file: path });
}

/** The file-backed fleet of a rollout: `<state>/<id>.fleet.json`, created from a description on first use. */
export async function fileFleetFor(
  state: string,
  id: string,
  description?: SimFleetDescription,
  memberMs = 0,
): Promise<FileFleet> {
  return FileFleet.open({
    path: join(resolve(state), `${id}.fleet.json`),
    ...(description ? { description } : {}),
    updateMs: memberMs,
  });
}

export function assertId(id: string): void {
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(id)) {
    throw new DroverError('ROLLOUT_ID_INVALID', `invalid rollout id "${id}"`, {
      kind: 'usage',
      hint: 'Use lowercase letters, digits, dots, dashes and underscores.',
    });
  }
}

/** One line per timeline event: `+1h30m  step 2: gate healthy: successful`. */
export function renderTimeline(
  events: readonly (Pick<TimelineEvent, 'type' | 'stage' | 'detail'> & { offsetMs: number })[],
): string[] {
  return events.map((e) => {
    const at = `+${formatDuration(e.offsetMs)}`.padEnd(10);
    const stage = e.stage !== undefined ? `step ${e.stage + 1}: ` : '';
    return `${at} ${stage}${e.type}${e.detail ? `: ${e.detail}` : ''}`;
  });
}

export function summaryLines(r: RolloutResult): string[] {
  const m = r.members;
  return [
    `rollout ${r.id}: ${r.status}${r.reason ? ` (${r.reason})` : ''}`,
    `image ${r.target.version ?? r.target.uri} (${r.target.digest})${r.previous ? `, previous ${r.previous.version && r.previous.version !== r.target.version ? r.previous.version : r.previous.digest}` : ''}`,
    `members: ${m.updated} updated, ${m.failed} failed, ${m.rolledBack} rolled back, ${m.pending} pending, ${m.alreadyCurrent} already current (of ${m.total})`,
    `duration ${formatDuration(r.durationMs)}, at most ${r.maxUnavailableObserved} unavailable at once`,
  ];
}

export function statusLines(s: RolloutStatusReport): string[] {
  const m = s.members;
  const lines = [
    `rollout ${s.id}: ${s.status}${s.reason ? ` (${s.reason})` : ''}${s.paused && s.status === 'running' ? ' (pause requested)' : ''}`,
  ];
  if (s.target) lines.push(`image ${s.target.version ?? s.target.uri} (${s.target.digest})`);
  lines.push(
    `members: ${m.updated} updated, ${m.failed} failed, ${m.rolledBack} rolled back, ${m.inFlight} in flight (of ${m.total})`,
  );
  lines.push(`steps completed: ${s.stagesCompleted}`);
  if (s.awaitingApproval !== undefined)
    lines.push(`waiting for approval of step ${s.awaitingApproval + 1}: drover rollout approve ${s.id}`);
  if (s.halted) lines.push(`halted: ${s.halted.reason}${s.halted.rollback ? ' (rolling back)' : ''}`);
  return lines;
}
