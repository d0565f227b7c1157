import { startProgress } from '@drover/core';
import { describe, expect, it } from 'vitest';
import { chooseProgressMode, ProgressRenderer } from './progress-renderer.js';
import { createStyle } from './style.js';

function harness(mode: 'bar' | 'lines' | 'off') {
  let now = 0;
  const out: string[] = [];
  const renderer = new ProgressRenderer({
    mode,
    write: (t) => out.push(t),
    style: createStyle(false),
    now: () => now,
    lineIntervalMs: 1000,
  });
  const tick = (ms: number): void => {
    now += ms;
  };
  return { renderer, out, tick };
}

describe('progress rendering', () => {
  it('chooses bars only on a TTY and nothing with --quiet or --json', () => {
    expect(chooseProgressMode({ quiet: false, json: false, isTTY: true })).toBe('bar');
    expect(chooseProgressMode({ quiet: false, json: false, isTTY: false })).toBe('lines');
    expect(chooseProgressMode({ quiet: true, json: false, isTTY: true })).toBe('off');
    expect(chooseProgressMode({ quiet: false, json: true, isTTY: true })).toBe('off');
  });

  it('plain-lines mode prints start, throttled status and done lines', () => {
    const { renderer, out, tick } = harness('lines');
    const p = startProgress(
      { onProgress: renderer.handle },
      { task: 't', label: 'hashing', unit: 'bytes', total: 4096 },
    );
    p.advance(1024);
    tick(1500);
    p.advance(1024);
    tick(100);
    p.advance(1024);
    p.done();
    expect(out).toEqual([
      'hashing...\n',
      'hashing: 2.0 KiB / 4.0 KiB (50%)\n',
      'hashing: done (1.6s, 3.0 KiB)\n',
    ]);
  });

  it('bar mode draws a bar, clears it and leaves only the summary line', () => {
    const { renderer, out, tick } = harness('bar');
    const p = startProgress(
      { onProgress: renderer.handle },
      { task: 't', label: 'files', unit: 'items', total: 10 },
    );
    tick(200);
    p.update(5);
    p.done(false);
    const text = out.join('');
    expect(text).toContain('files ');
    expect(text).toContain('5 items / 10 items (50%)');
    expect(text).toContain('\r\u001b[2K');
    expect(out.at(-1)).toBe('files: failed (200ms, 5 items)\n');
  });

  it('off mode prints nothing', () => {
    const { renderer, out } = harness('off');
    const p = startProgress({ onProgress: renderer.handle }, { task: 't', label: 'x', unit: 'items' });
    p.advance(1);
    p.done();
    renderer.finish();
    expect(out).toEqual([]);
  });
});
