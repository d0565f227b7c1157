import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './index.js';

describe('durations', () => {
  it('parses seconds and unit text', () => {
    expect(parseDuration(90)).toBe(90_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(() => parseDuration('5 minutes')).toThrow(/not a duration/);
    expect(() => parseDuration(-1)).toThrow(/not a duration/);
  });
  it('formats for timelines', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(250)).toBe('250ms');
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(90_061_000)).toBe('1d1h1m1s');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('∞');
  });
});
