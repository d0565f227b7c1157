import { DroverError } from '@drover/core';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The textual form accepted for durations: `90s`, `5m`, `1h30m`, `250ms`, `2d`. */
export const DURATION_PATTERN = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;

/** A duration in a spec: seconds as a number, or text such as `1h30m`. */
export type DurationInput = number | string;

/** Milliseconds of a spec duration (numbers are seconds). */
export function parseDuration(input: DurationInput, field = 'duration'): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw badDuration(String(input), field);
    return Math.round(input * 1000);
  }
  const text = input.trim();
  if (!DURATION_PATTERN.test(text)) throw badDuration(text, field);
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  return Math.round(total);
}

/** `1h30m`-style text for milliseconds (for timelines). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '∞';
  if (ms > 0 && ms < 1000) return `${Math.round(ms)}ms`;
  let s = Math.round(ms / 1000);
  const parts: string[] = [];
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d) parts.push(`${d}d`);
  if (h) parts.push(`${h}h`);
  if (m) parts.push(`${m}m`);
  if (s || parts.length === 0) parts.push(`${s}s`);
  return parts.join('');
}

function badDuration(text: string, field: string): DroverError {
  return new DroverError('ROLLOUT_DURATION_INVALID', `${field}: "${text}" is not a duration`, {
    hint: 'Write a number of seconds or text such as 90s, 5m, 1h30m, 2d.',
  });
}
