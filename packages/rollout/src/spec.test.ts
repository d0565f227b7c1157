import { isDroverError } from '@drover/core';
import { describe, expect, it } from 'vitest';
import { imageChannelOf, imageRefOf, parseRolloutSpec, type SpecProblem, withImage } from './index.js';

const D = `sha256:${'a'.repeat(64)}` as const;
const head = `apiVersion: drover.dev/v1\nkind: Rollout\nname: web\nimage: local:${D}\n`;

function problems(text: string): SpecProblem[] {
  try {
    parseRolloutSpec({ text, file: 'spec.yaml' });
  } catch (error) {
    if (isDroverError(error, 'ROLLOUT_SPEC_INVALID'))
      return (error.details as { problems: SpecProblem[] }).problems;
    throw error;
  }
  throw new Error('expected the spec to be rejected');
}

describe('parseRolloutSpec', () => {
  it('accepts every strategy', () => {
    const strategies = [
      'strategy: { type: rolling, maxUnavailable: 25%, maxSurge: 0 }',
      'strategy:\n  type: canary\n  steps:\n    - count: 1\n      bake: 10m\n      gates: [ok]\n      approval: true\n    - percent: 50\ngates:\n  - { name: ok, type: health }',
      'strategy: { type: waves, regions: [eu, us], growth: 2, maxUnavailablePerZone: 1, bake: 5m }',
      'action: replace\nstrategy: { type: blue-green, rollbackWindow: 1h }',
      'strategy:\n  type: seeded\n  waves:\n    - { seed: 100, start: +1h }\n    - { seed: 2047, start: "2026-11-24T00:00:00Z" }',
    ];
    for (const s of strategies) {
      const { spec, image } = parseRolloutSpec({ text: head + s });
      expect(image?.digest).toBe(D);
      expect(spec.strategy.type).toMatch(/rolling|canary|waves|blue-green|seeded/);
    }
  });

  it('accepts a store channel as the image, resolved later with withImage', () => {
    const text =
      'apiVersion: drover.dev/v1\nkind: Rollout\nname: web\nimage: { channel: canary }\nstrategy: { type: rolling }\n';
    const parsed = parseRolloutSpec({ text });
    expect(parsed).toMatchObject({ channel: 'canary' });
    expect(parsed.image).toBeUndefined();
    expect(imageChannelOf(parsed.spec)).toBe('canary');
    expect(() => imageRefOf(parsed.spec.image)).toThrow(/channel canary/);
    const resolved = withImage(parsed.spec, { uri: `local:sha256:${D.slice(7)}`, digest: D, version: '2' });
    expect(imageRefOf(resolved.image)).toMatchObject({ digest: D, version: '2' });
    expect(imageChannelOf(resolved)).toBeUndefined();
    expect(problems(text.replace('canary', 'Bad Channel'))[0]?.path).toMatch(/^image/);
  });

  it('reports an unknown field at its line and column with a did-you-mean hint', () => {
    const p = problems(`${head}strategy:\n  type: rolling\n  maxUnavailabe: 1\n`);
    expect(p[0]).toMatchObject({
      path: 'strategy.maxUnavailabe',
      line: 7,
      column: 3,
      message: 'unknown field "maxUnavailabe"',
    });
    expect(p[0]?.hint).toContain('maxUnavailable');
  });

  it('rejects maxUnavailable and maxSurge both zero (Kubernetes semantics)', () => {
    const p = problems(`${head}strategy: { type: rolling, maxUnavailable: 0%, maxSurge: 0 }\n`);
    expect(p[0]?.message).toMatch(/both zero/);
    expect(p[0]?.line).toBe(5);
  });

  it('names unknown gates, bad durations, bad cron and bad time zones with positions', () => {
    const p = problems(
      `${head}strategy:\n  type: canary\n  steps:\n    - count: 1\n      gates: [helthy]\n      bake: 5 minutes\ngates:\n  - { name: healthy, type: health }\nwindows:\n  - { cron: "61 * * * *", duration: 1h }\n  - { cron: "0 2 * * *", duration: 1h, timeZone: Mars/Olympus }\n`,
    );
    const byPath = new Map(p.map((x) => [x.path, x]));
    expect(byPath.get('strategy.steps.0.bake')).toMatchObject({
      line: 10,
      message: expect.stringMatching(/duration/),
    });
    // The semantic pass runs only on a structurally valid spec; fix the duration and look again.
    const q = problems(
      `${head}strategy:\n  type: canary\n  steps:\n    - count: 1\n      gates: [helthy]\ngates:\n  - { name: healthy, type: health }\nwindows:\n  - { cron: "61 * * * *", duration: 1h }\n  - { cron: "0 2 * * *", duration: 1h, timeZone: Mars/Olympus }\n`,
    );
    const m = new Map(q.map((x) => [x.path, x]));
    expect(m.get('strategy.steps.0.gates.0')).toMatchObject({
      line: 9,
      message: 'unknown gate "helthy"',
      hint: 'Did you mean "healthy"?',
    });
    expect(m.get('windows.0.cron')?.message).toMatch(/invalid cron/);
    expect(m.get('windows.1.timeZone')?.message).toMatch(/unknown time zone/);
  });

  it('reports YAML syntax errors and duplicate keys with positions', () => {
    expect(problems(`${head}strategy: { type: rolling\n`)[0]?.message).toMatch(/^YAML:/);
    const dup = problems(`${head}name: again\nstrategy: { type: rolling }\n`)[0];
    expect(dup).toMatchObject({ line: 5, message: expect.stringMatching(/duplicate/) });
  });

  it('reports a missing field and an unknown strategy type', () => {
    expect(problems(`${head}`)[0]).toMatchObject({
      path: 'strategy',
      message: 'missing required field "strategy"',
    });
    expect(problems(`${head}strategy: { type: yolo }\n`)[0]).toMatchObject({
      path: 'strategy.type',
      line: 5,
      message: 'unknown type "yolo"',
    });
  });

  it('rejects maxSurge with in-place updates, decreasing canary steps and unordered seeds', () => {
    expect(problems(`${head}strategy: { type: rolling, maxSurge: 1 }\n`)[0]?.message).toMatch(
      /action: replace/,
    );
    expect(
      problems(`${head}strategy: { type: canary, steps: [{ percent: 50 }, { percent: 20 }] }\n`)[0]?.message,
    ).toMatch(/cumulative/);
    expect(
      problems(
        `${head}strategy: { type: seeded, waves: [{ seed: 500, start: +1h }, { seed: 100, start: +2h }] }\n`,
      )[0]?.message,
    ).toMatch(/increase/);
  });
});
