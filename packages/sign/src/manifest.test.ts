import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addUpdate,
  compareVersions,
  isWaveReady,
  MAX_SEED,
  parseUpdateManifest,
  planWaves,
  selectUpdate,
  type Waves,
  waveStartFor,
} from './manifest.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');
const H = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

// Arbitrary valid waves: strictly increasing bounds in 1..2048 with non-decreasing whole-second times.
const wavesArb = fc
  .uniqueArray(fc.integer({ min: 1, max: MAX_SEED }), { minLength: 1, maxLength: 8 })
  .chain((bounds) =>
    fc
      .array(fc.integer({ min: 0, max: 48 * 3600 }), { minLength: bounds.length, maxLength: bounds.length })
      .map((gaps) => {
        const sorted = [...bounds].sort((a, b) => a - b);
        let t = T0;
        const waves: Waves = {};
        sorted.forEach((b, i) => {
          t += (gaps[i] as number) * 1000;
          waves[String(b)] = iso(t);
        });
        return { waves, sorted };
      }),
  );
const seedArb = fc.integer({ min: 0, max: MAX_SEED - 1 });

describe('waveStartFor (seed-relative interpolation)', () => {
  it('example: the first host of a wave starts at the wave start, not near its end', () => {
    const waves = { '512': iso(T0), '1024': iso(T0 + 8 * H), '2048': iso(T0 + 24 * H) };
    expect(waveStartFor({ waves, seed: 0 })?.getTime()).toBe(T0);
    expect(waveStartFor({ waves, seed: 512 })?.getTime()).toBe(T0);
    expect(waveStartFor({ waves, seed: 513 })?.getTime()).toBe(T0 + Math.floor((8 * H) / 512));
    expect(waveStartFor({ waves, seed: 768 })?.getTime()).toBe(T0 + 4 * H); // middle of wave 2 → middle of its window
    // updog's absolute-seed formula would give T0 + 8h × 768/512 (clamped to the end): not what we do
    expect(waveStartFor({ waves, seed: 1024 })?.getTime()).toBe(T0 + 8 * H);
    expect(waveStartFor({ waves, seed: 1536 })?.getTime()).toBe(T0 + 16 * H);
    expect(waveStartFor({ waves, seed: 2047 })?.getTime()).toBe(
      T0 + 8 * H + Math.floor((16 * H * 1023) / 1024),
    );
  });

  it('hosts above the last bound start at the last wave time; no waves means no constraint', () => {
    const waves = { '100': iso(T0), '200': iso(T0 + H) };
    expect(waveStartFor({ waves, seed: 2000 })?.getTime()).toBe(T0 + H);
    expect(waveStartFor({ waves: {}, seed: 5 })).toBeUndefined();
    expect(isWaveReady({ waves: {}, seed: 5, now: new Date(0) })).toBe(true);
  });

  it('property: the start time is monotone in the seed and stays within [t_first, t_last]', () => {
    fc.assert(
      fc.property(wavesArb, seedArb, seedArb, ({ waves, sorted }, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const ta = waveStartFor({ waves, seed: lo })?.getTime() as number;
        const tb = waveStartFor({ waves, seed: hi })?.getTime() as number;
        expect(ta).toBeLessThanOrEqual(tb);
        const first = Date.parse(waves[String(sorted[0])] as string);
        const last = Date.parse(waves[String(sorted[sorted.length - 1])] as string);
        expect(ta).toBeGreaterThanOrEqual(first);
        expect(tb).toBeLessThanOrEqual(last);
      }),
    );
  });

  it('property: a host at a bound starts exactly at that bound time (continuity between waves)', () => {
    fc.assert(
      fc.property(wavesArb, ({ waves, sorted }) => {
        for (const b of sorted) {
          if (b >= MAX_SEED) continue;
          expect(waveStartFor({ waves, seed: b })?.getTime()).toBe(Date.parse(waves[String(b)] as string));
        }
      }),
    );
  });

  it('property: within a wave, start times are linear in (seed − previous bound) — seed-relative', () => {
    fc.assert(
      fc.property(wavesArb, fc.double({ min: 0, max: 1, noNaN: true }), ({ waves, sorted }, frac) => {
        fc.pre(sorted.length >= 2);
        for (let k = 1; k < sorted.length; k++) {
          const s0 = sorted[k - 1] as number;
          const s1 = Math.min(sorted[k] as number, MAX_SEED - 1);
          if (s1 <= s0) continue;
          const seed = s0 + Math.max(1, Math.round(frac * (s1 - s0)));
          if (seed > s1) continue;
          const t0 = Date.parse(waves[String(s0)] as string);
          const t1 = Date.parse(waves[String(sorted[k])] as string);
          const expected = t0 + Math.floor(((t1 - t0) * (seed - s0)) / ((sorted[k] as number) - s0));
          expect(waveStartFor({ waves, seed })?.getTime()).toBe(expected);
        }
      }),
    );
  });

  it('property: halfway through a wave window, about half of that wave is eligible (absolute-seed bug would give far fewer)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 256, max: 1024 }), fc.integer({ min: 1, max: 72 }), (first, hours) => {
        const waves = { [String(first)]: iso(T0), '2048': iso(T0 + hours * H) };
        const mid = new Date(T0 + (hours * H) / 2);
        let eligible = 0;
        for (let seed = first + 1; seed < MAX_SEED; seed++)
          if (isWaveReady({ waves, seed, now: mid })) eligible++;
        const size = MAX_SEED - 1 - first;
        expect(Math.abs(eligible / size - 0.5)).toBeLessThan(0.01);
      }),
      { numRuns: 30 },
    );
  });

  it('rejects bad waves and seeds with codes', () => {
    expect(() => waveStartFor({ waves: { '0': iso(T0) }, seed: 1 })).toThrow(
      expect.objectContaining({ code: 'WAVES_INVALID' }),
    );
    expect(() => waveStartFor({ waves: { '4096': iso(T0) }, seed: 1 })).toThrow(
      expect.objectContaining({ code: 'WAVES_INVALID' }),
    );
    expect(() => waveStartFor({ waves: { '10': 'tomorrow' }, seed: 1 })).toThrow(
      expect.objectContaining({ code: 'WAVES_INVALID' }),
    );
    expect(() => waveStartFor({ waves: { '10': iso(T0 + H), '20': iso(T0) }, seed: 1 })).toThrow(
      expect.objectContaining({ code: 'WAVES_INVALID' }),
    );
    expect(() => waveStartFor({ waves: {}, seed: 2048 })).toThrow(
      expect.objectContaining({ code: 'SEED_INVALID' }),
    );
  });
});

describe('update manifest', () => {
  const waves = planWaves({
    start: new Date(T0),
    steps: [
      { bound: 512, afterHours: 0 },
      { bound: 2048, afterHours: 24 },
    ],
  });

  it('addUpdate keeps one entry per version, sets max_version, and round-trips through parseUpdateManifest', () => {
    let m = addUpdate({
      update: {
        variant: 'edge',
        arch: 'x86_64',
        version: '1.0.0',
        waves,
        images: { root: 'root-1.0.0.img' },
      },
    });
    m = addUpdate({
      manifest: m,
      update: {
        variant: 'edge',
        arch: 'x86_64',
        version: '1.1.0',
        waves,
        images: { root: 'root-1.1.0.img' },
      },
      migrations: { '(1.0.0, 1.1.0)': ['migrate-settings-1.1.0'] },
    });
    expect(m.updates.map((u) => [u.version, u.max_version])).toEqual([
      ['1.1.0', '1.1.0'],
      ['1.0.0', '1.1.0'],
    ]);
    expect(parseUpdateManifest(JSON.parse(JSON.stringify(m)))).toEqual(m);
    expect(waves).toEqual({ '512': '2026-12-01T00:00:00Z', '2048': '2026-12-02T00:00:00Z' });
  });

  it('selectUpdate honours max_version, the host wave, and collects migrations', () => {
    let m = addUpdate({
      update: { variant: 'edge', arch: 'x86_64', version: '1.1.0', waves, images: {} },
      migrations: { '(1.0.0, 1.1.0)': ['m1'] },
    });
    m = addUpdate({
      manifest: m,
      update: { variant: 'edge', arch: 'x86_64', version: '1.2.0', waves, images: {}, max_version: '1.1.0' },
    });
    const base = { manifest: m, variant: 'edge', arch: 'x86_64', currentVersion: '1.0.0' };
    expect(selectUpdate({ ...base, seed: 10, now: new Date(T0 - 1) })).toBeUndefined();
    const pick = selectUpdate({ ...base, seed: 10, now: new Date(T0) });
    expect(pick?.update.version).toBe('1.1.0'); // 1.2.0 is above max_version
    expect(pick?.migrations).toEqual(['m1']);
    expect(selectUpdate({ ...base, seed: 2000, now: new Date(T0 + H) })).toBeUndefined();
    expect(selectUpdate({ ...base, variant: 'other', seed: 10, now: new Date(T0 + 48 * H) })).toBeUndefined();
  });

  it('rejects malformed manifests with UPDATE_MANIFEST_INVALID', () => {
    expect(() => parseUpdateManifest({})).toThrow(
      expect.objectContaining({ code: 'UPDATE_MANIFEST_INVALID' }),
    );
    expect(() =>
      parseUpdateManifest({
        updates: [{ variant: 'a', arch: 'b', version: 'x', max_version: '1.0.0', waves: {}, images: {} }],
      }),
    ).toThrow(expect.objectContaining({ code: 'UPDATE_MANIFEST_INVALID' }));
    expect(() => parseUpdateManifest({ updates: [], migrations: { 'a->b': [] } })).toThrow(
      expect.objectContaining({ code: 'UPDATE_MANIFEST_INVALID' }),
    );
    expect(compareVersions('1.0.0-rc1', '1.0.0')).toBeLessThan(0);
    expect(compareVersions('1.10.0', '1.9.9')).toBeGreaterThan(0);
  });
});
