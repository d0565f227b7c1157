import { setImmediate as flushMacrotask } from 'node:timers/promises';
import { DroverError } from '@drover/core';

/** Time as the engine sees it: real for `start`, virtual for `plan` and the tests. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Resolve after `ms` (used by concurrent member tasks and gate analyses). */
  sleep(ms: number): Promise<void>;
  /**
   * Called by the engine's main loop when it has nothing to do: return when `wake()` is called or at `deadline`.
   * `busy` says whether tasks outside the clock (file I/O) are still running.
   */
  idle(deadline: number, busy: boolean): Promise<void>;
  /** Wake the main loop (a task finished). */
  wake(): void;
}

/** Wall-clock time. */
export class RealClock implements Clock {
  #wake: (() => void) | undefined;
  #woken = false;
  now(): number {
    return Date.now();
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  }
  idle(deadline: number): Promise<void> {
    if (this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      // Cap the wait so controls (pause, abort) written by another process are noticed.
      const ms = Math.min(Math.max(0, deadline - Date.now()), 1000);
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.#wake = undefined;
        self.#woken = false;
        resolve();
      }
      this.#wake = done;
    });
  }
  wake(): void {
    if (this.#wake) this.#wake();
    else this.#woken = true;
  }
}

interface Timer {
  at: number;
  seq: number;
  fire: () => void;
}

/**
 * Discrete-event time: nothing waits for real. Time moves only when the engine is idle: the clock jumps to the
 * earliest timer, fires every timer due at that instant, and lets the resulting promise chains run.
 */
export class VirtualClock implements Clock {
  #t: number;
  #seq = 0;
  #heap: Timer[] = [];
  #woken = false;

  constructor(start = 0) {
    this.#t = start;
  }
  now(): number {
    return this.#t;
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) =>
      this.#push({ at: this.#t + Math.max(0, ms), seq: this.#seq++, fire: resolve }),
    );
  }
  /** Run `fn` at virtual time `at` (for the simulated fleet's own events). */
  schedule(at: number, fn: () => void): void {
    this.#push({ at: Math.max(at, this.#t), seq: this.#seq++, fire: fn });
  }
  /** Timers still pending (for tests). */
  get pending(): number {
    return this.#heap.length;
  }
  async idle(deadline: number, busy: boolean): Promise<void> {
    // Let tasks the engine just started run up to their first wait before deciding that time may move.
    await flushMacrotask();
    let fired = false;
    for (;;) {
      if (this.#woken) {
        this.#woken = false;
        return;
      }
      const next = this.#heap[0];
      if (busy && (next === undefined || next.at > this.#t)) {
        // Real I/O (a file journal) is in flight: let it finish before time moves on.
        await new Promise((r) => setTimeout(r, 0));
        if (this.#woken) continue;
        busy = false;
        continue;
      }
      if (next === undefined || next.at > deadline) {
        if (Number.isFinite(deadline)) this.#t = Math.max(this.#t, deadline);
        else if (next === undefined && !fired) {
          throw new DroverError(
            'ROLLOUT_STALLED',
            'the simulated rollout can make no progress: nothing is scheduled and nothing runs',
            {
              kind: 'internal',
              hint: 'A budget, window or fault blocks every remaining member forever; check the spec against the fleet.',
            },
          );
        }
        return;
      }
      this.#t = Math.max(this.#t, next.at);
      while (this.#heap.length > 0 && (this.#heap[0] as Timer).at <= this.#t) (this.#pop() as Timer).fire();
      fired = true;
      await flushMacrotask();
    }
  }
  /** Advance to `t`, firing timers on the way (for tests and for the gap between a crash and a restart). */
  async advanceTo(t: number): Promise<void> {
    await flushMacrotask();
    while (this.#heap.length > 0 && (this.#heap[0] as Timer).at <= t) {
      this.#t = Math.max(this.#t, (this.#heap[0] as Timer).at);
      while (this.#heap.length > 0 && (this.#heap[0] as Timer).at <= this.#t) (this.#pop() as Timer).fire();
      await flushMacrotask();
    }
    this.#t = Math.max(this.#t, t);
    this.#woken = false;
  }
  wake(): void {
    this.#woken = true;
  }

  #less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
  #push(timer: Timer): void {
    const h = this.#heap;
    h.push(timer);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i] as Timer, h[p] as Timer)) break;
      [h[i], h[p]] = [h[p] as Timer, h[i] as Timer];
      i = p;
    }
  }
  #pop(): Timer | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.#less(h[l] as Timer, h[m] as Timer)) m = l;
        if (r < h.length && this.#less(h[r] as Timer, h[m] as Timer)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m] as Timer, h[i] as Timer];
        i = m;
      }
    }
    return top;
  }
}
