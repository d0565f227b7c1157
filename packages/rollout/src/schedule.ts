import { Cron } from 'croner';
import { parseDuration } from './duration.js';
import type { ScheduleSpec } from './schema.js';

/** A recurring window (cron in a time zone, plus a duration), answering "is it open at t?" with a small cache. */
export class Window {
  readonly #cron: Cron;
  readonly #durationMs: number;
  #from = 0;
  #to = -1;
  #open = false;

  constructor(spec: ScheduleSpec) {
    this.#cron = new Cron(spec.cron, { timezone: spec.timeZone ?? 'UTC', paused: true });
    this.#durationMs = parseDuration(spec.duration);
  }

  /** Whether the window is open at epoch milliseconds `t`. */
  isOpen(t: number): boolean {
    this.#resolve(t);
    return this.#open;
  }

  /** When the state at `t` changes next (window closes, or opens). */
  nextChange(t: number): number {
    this.#resolve(t);
    return this.#to;
  }

  #resolve(t: number): void {
    if (t >= this.#from && t < this.#to) return;
    // Open at t iff some start s lies in (t - duration, t]: the first start after t - duration is <= t.
    const s = this.#cron.nextRun(new Date(t - this.#durationMs));
    if (s && s.getTime() <= t) {
      this.#open = true;
      this.#from = s.getTime();
      this.#to = s.getTime() + this.#durationMs;
    } else {
      this.#open = false;
      this.#from = t;
      this.#to = s ? s.getTime() : Number.POSITIVE_INFINITY;
    }
  }
}

/** A set of windows: open when any is open; always open when empty. */
export class WindowSet {
  readonly #windows: Window[];
  constructor(specs: readonly ScheduleSpec[]) {
    this.#windows = specs.map((s) => new Window(s));
  }
  get empty(): boolean {
    return this.#windows.length === 0;
  }
  isOpen(t: number): boolean {
    return this.#windows.length === 0 || this.#windows.some((w) => w.isOpen(t));
  }
  /** The next time this set opens, at or after `t` (t itself when open). */
  nextOpen(t: number): number {
    if (this.isOpen(t)) return t;
    return Math.min(...this.#windows.map((w) => w.nextChange(t)));
  }
}
