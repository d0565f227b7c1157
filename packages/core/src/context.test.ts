import { describe, expect, it, vi } from 'vitest';
import { resolveContext, silentLogger, throwIfAborted } from './context.js';
import { isDroverError } from './error.js';
import { startProgress } from './progress.js';

describe('Context', () => {
  it('fills no-op defaults so libraries never check for undefined', () => {
    const ctx = resolveContext();
    expect(ctx.logger).toBe(silentLogger);
    expect(() => ctx.onProgress({ type: 'start', task: 't', label: 'l', unit: 'items' })).not.toThrow();
    expect(ctx.signal).toBeUndefined();
  });

  it('keeps what the caller gave', () => {
    const onProgress = vi.fn();
    const controller = new AbortController();
    const ctx = resolveContext({ onProgress, signal: controller.signal });
    ctx.onProgress({ type: 'done', task: 't', completed: 1, ok: true });
    expect(onProgress).toHaveBeenCalledOnce();
    expect(ctx.signal).toBe(controller.signal);
  });

  it('throwIfAborted throws ABORTED only once the signal fired', () => {
    const controller = new AbortController();
    expect(() => throwIfAborted({ signal: controller.signal })).not.toThrow();
    expect(() => throwIfAborted(undefined)).not.toThrow();
    controller.abort(new Error('user pressed ^C'));
    try {
      throwIfAborted({ signal: controller.signal });
      expect.unreachable();
    } catch (error) {
      expect(isDroverError(error, 'ABORTED')).toBe(true);
      expect((error as { kind: string }).kind).toBe('aborted');
    }
  });
});

describe('progress', () => {
  it('emits start, cumulative advances and one done', () => {
    const events: unknown[] = [];
    const p = startProgress(
      { onProgress: (e) => events.push(e) },
      { task: 'a', label: 'copy', unit: 'bytes', total: 10 },
    );
    p.advance(4);
    p.advance(3);
    p.update(9, 12);
    p.done();
    p.done(false);
    p.advance(1);
    expect(events).toEqual([
      { type: 'start', task: 'a', label: 'copy', unit: 'bytes', total: 10 },
      { type: 'advance', task: 'a', completed: 4, total: 10 },
      { type: 'advance', task: 'a', completed: 7, total: 10 },
      { type: 'advance', task: 'a', completed: 9, total: 12 },
      { type: 'done', task: 'a', completed: 9, ok: true },
    ]);
    expect(p.completed).toBe(10);
  });

  it('works without a sink and without a total', () => {
    const p = startProgress(undefined, { task: 'b', label: 'x', unit: 'items' });
    p.advance(2);
    p.done();
    expect(p.completed).toBe(2);
    const events: unknown[] = [];
    startProgress({ onProgress: (e) => events.push(e) }, { task: 'c', label: 'y', unit: 'items' }).advance(1);
    expect(events).toEqual([
      { type: 'start', task: 'c', label: 'y', unit: 'items' },
      { type: 'advance', task: 'c', completed: 1 },
    ]);
  });
});
