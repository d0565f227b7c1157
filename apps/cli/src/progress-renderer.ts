import type { ProgressEvent, ProgressUnit } from '@drover/core';
import { formatBytes, formatDuration } from './format.js';
import type { Style } from './style.js';

export type ProgressMode = 'bar' | 'lines' | 'off';

export interface ProgressRendererOptions {
  /** `bar` redraws one line per task in place (TTY), `lines` prints plain lines (logs, CI), `off` prints nothing. */
  mode: ProgressMode;
  write: (text: string) => void;
  style: Style;
  /** Terminal width for bars. */
  columns?: number;
  now?: () => number;
  /** In `lines` mode, how often a long task prints a status line. */
  lineIntervalMs?: number;
}

interface TaskState {
  label: string;
  unit: ProgressUnit;
  total?: number;
  completed: number;
  startedAt: number;
  lastLineAt: number;
}

/** Pick the progress mode for this process: nothing when quiet or --json, a bar on a TTY, plain lines otherwise. */
export function chooseProgressMode(options: { quiet: boolean; json: boolean; isTTY: boolean }): ProgressMode {
  if (options.quiet || options.json) return 'off';
  return options.isTTY ? 'bar' : 'lines';
}

/** Renders core progress events on stderr. One instance per command run. */
export class ProgressRenderer {
  readonly #tasks = new Map<string, TaskState>();
  readonly #options: Required<Omit<ProgressRendererOptions, 'columns'>> & { columns: number };
  #drawnLines = 0;
  #lastDraw = 0;

  constructor(options: ProgressRendererOptions) {
    this.#options = {
      columns: options.columns ?? 80,
      now: options.now ?? Date.now,
      lineIntervalMs: options.lineIntervalMs ?? 10_000,
      ...options,
    };
  }

  /** The progress sink to put in a Context. */
  readonly handle = (event: ProgressEvent): void => {
    const { mode } = this.#options;
    if (mode === 'off') return;
    const now = this.#options.now();
    switch (event.type) {
      case 'start': {
        const state: TaskState = {
          label: event.label,
          unit: event.unit,
          completed: 0,
          startedAt: now,
          lastLineAt: now,
        };
        if (event.total !== undefined) state.total = event.total;
        this.#tasks.set(event.task, state);
        if (mode === 'lines') this.#options.write(`${event.label}...\n`);
        else this.#draw(true);
        return;
      }
      case 'advance': {
        const state = this.#tasks.get(event.task);
        if (!state) return;
        state.completed = event.completed;
        if (event.total !== undefined) state.total = event.total;
        if (mode === 'lines') {
          if (now - state.lastLineAt >= this.#options.lineIntervalMs) {
            state.lastLineAt = now;
            this.#options.write(`${state.label}: ${this.#amount(state)}\n`);
          }
        } else {
          this.#draw(false);
        }
        return;
      }
      case 'done': {
        const state = this.#tasks.get(event.task);
        if (!state) return;
        state.completed = event.completed;
        this.#tasks.delete(event.task);
        const elapsed = formatDuration(now - state.startedAt);
        const outcome = event.ok ? this.#options.style.green('done') : this.#options.style.red('failed');
        const size = state.completed > 0 ? `, ${this.#count(state.unit, state.completed)}` : '';
        if (mode === 'bar') this.#clear();
        this.#options.write(`${state.label}: ${outcome} (${elapsed}${size})\n`);
        if (mode === 'bar') this.#draw(true);
        return;
      }
    }
  };

  /** Erase any bar still on screen (call before printing results or errors). */
  finish(): void {
    if (this.#options.mode === 'bar') this.#clear();
    this.#tasks.clear();
  }

  #count(unit: ProgressUnit, n: number): string {
    return unit === 'bytes' ? formatBytes(n) : `${n} items`;
  }

  #amount(state: TaskState): string {
    const done = this.#count(state.unit, state.completed);
    if (state.total === undefined || state.total === 0) return done;
    const pct = Math.min(100, Math.floor((state.completed / state.total) * 100));
    return `${done} / ${this.#count(state.unit, state.total)} (${pct}%)`;
  }

  #clear(): void {
    if (this.#drawnLines === 0) return;
    // Move up over the lines we drew and clear them.
    this.#options.write(`\r\u001b[2K${'\u001b[1A\u001b[2K'.repeat(this.#drawnLines - 1)}`);
    this.#drawnLines = 0;
  }

  #draw(force: boolean): void {
    const now = this.#options.now();
    if (!force && now - this.#lastDraw < 80) return; // at most ~12 redraws a second
    this.#lastDraw = now;
    this.#clear();
    const lines: string[] = [];
    for (const state of this.#tasks.values()) lines.push(this.#barLine(state, now));
    if (lines.length === 0) return;
    this.#options.write(lines.join('\n'));
    this.#drawnLines = lines.length;
  }

  #barLine(state: TaskState, now: number): string {
    const { style, columns } = this.#options;
    const elapsed = (now - state.startedAt) / 1000;
    const rate =
      state.unit === 'bytes' && elapsed > 0.5 ? ` ${formatBytes(state.completed / elapsed)}/s` : '';
    const info = `${this.#amount(state)}${rate}`;
    if (state.total === undefined || state.total === 0) {
      return truncate(`${state.label} ${style.dim(info)}`, columns);
    }
    const width = Math.max(10, Math.min(30, columns - state.label.length - info.length - 6));
    const filled = Math.round(Math.min(1, state.completed / state.total) * width);
    const bar = `${'█'.repeat(filled)}${style.dim('░'.repeat(width - filled))}`;
    return truncate(`${state.label} ${bar} ${info}`, columns + 20);
  }
}

function truncate(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) : s;
}
