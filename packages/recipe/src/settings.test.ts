import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mergeSettings, renderSettings, type SettingsValue } from './settings.js';
import { renderTemplate } from './variables.js';

/** Parse TOML with Python's tomllib (the reference TOML 1.0 reader on this machine) and return it as JSON. */
function pythonToml(text: string): unknown {
  const out = execFileSync(
    'python3',
    ['-c', 'import sys, json, tomllib; print(json.dumps(tomllib.loads(sys.stdin.read())))'],
    {
      input: text,
    },
  );
  return JSON.parse(out.toString());
}

describe('renderSettings', () => {
  it('renders tables, nested tables, arrays and arrays of tables as TOML', () => {
    const values: Record<string, SettingsValue> = {
      motd: 'hi "there"\n',
      updates: { channel: 'stable', 'check-interval': 60, enabled: true, ratio: 0.5 },
      kernel: { sysctl: { 'net.ipv4.ip_forward': '1' }, modules: ['a', 'b'] },
      users: [{ name: 'a' }, { name: 'b', groups: ['wheel'] }],
    };
    const toml = renderSettings({ format: 'toml', values });
    expect(toml).toBe(
      [
        'motd = "hi \\"there\\"\\n"',
        '',
        '[updates]',
        'channel = "stable"',
        'check-interval = 60',
        'enabled = true',
        'ratio = 0.5',
        '',
        '[kernel]',
        'modules = ["a", "b"]',
        '',
        '[kernel.sysctl]',
        '"net.ipv4.ip_forward" = "1"',
        '',
        '[[users]]',
        'name = "a"',
        '',
        '[[users]]',
        'name = "b"',
        'groups = ["wheel"]',
        '',
      ].join('\n'),
    );
    expect(pythonToml(toml)).toEqual(values);
    expect(JSON.parse(renderSettings({ format: 'json', values }))).toEqual(values);
  });

  it('produces TOML that a real TOML reader reads back to the same values (property)', () => {
    const key = fc.string({ minLength: 1, maxLength: 6 });
    const scalar = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.integer(),
      fc.boolean(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
    );
    const tree = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, scalar, fc.array(scalar, { maxLength: 3 }), tie('table')),
      table: fc.dictionary(key, tie('value'), { maxKeys: 4 }),
    }));
    const samples = fc.sample(tree.table as fc.Arbitrary<Record<string, SettingsValue>>, {
      numRuns: 25,
      seed: 42,
    });
    // One python process for all samples keeps this fast.
    const docs = samples.map((values) => renderSettings({ format: 'toml', values }));
    const out = execFileSync(
      'python3',
      [
        '-c',
        'import sys, json, tomllib; print(json.dumps([tomllib.loads(d) for d in json.load(sys.stdin)]))',
      ],
      { input: JSON.stringify(docs) },
    );
    const parsed = JSON.parse(out.toString()) as unknown[];
    samples.forEach((values, i) => {
      expect(parsed[i]).toEqual(JSON.parse(JSON.stringify(values)));
    });
  });

  it('refuses null in TOML', () => {
    expect(() => renderSettings({ format: 'toml', values: { a: { b: null } } })).toThrow(
      expect.objectContaining({ code: 'RECIPE_SETTINGS_INVALID' }),
    );
  });

  it('merges settings deeply, later values winning', () => {
    expect(mergeSettings({ a: { x: 1, y: 2 }, b: [1] }, { a: { y: 3 }, b: [2], c: true })).toEqual({
      a: { x: 1, y: 3 },
      b: [2],
      c: true,
    });
  });
});

describe('renderTemplate', () => {
  it('interpolates variables and keeps $${ literal', () => {
    expect(renderTemplate({ text: 'a=${a} b=$${b} c=$c', variables: { a: '1' } })).toBe('a=1 b=${b} c=$c');
  });

  it('fails on undefined variables with a suggestion', () => {
    expect(() => renderTemplate({ text: '${nmae}', variables: { name: 'x' }, name: 'motd.tmpl' })).toThrow(
      expect.objectContaining({
        code: 'RECIPE_VARIABLE_UNDEFINED',
        hint: expect.stringMatching(/did you mean \$\{name\}/),
      }),
    );
    expect(() => renderTemplate({ text: '${', variables: {} })).toThrow(
      expect.objectContaining({ code: 'RECIPE_TEMPLATE_INVALID' }),
    );
  });
});
