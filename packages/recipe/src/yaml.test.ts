import { describe, expect, it } from 'vitest';
import { locate, toValue } from './node.js';
import { MAX_EXPANDED_WEIGHT, parseYaml } from './yaml.js';

const parse = (text: string) => parseYaml(text, '/r/recipe.yaml');

describe('parseYaml', () => {
  it('keeps 1-based positions for values and keys', () => {
    const { root, problems } = parse('a: 1\nb:\n  c: [x, "y"]\n');
    expect(problems).toEqual([]);
    expect(toValue(root!)).toEqual({ a: 1, b: { c: ['x', 'y'] } });
    expect(locate(root, ['b', 'c', 1])).toEqual({ file: '/r/recipe.yaml', line: 3, column: 10 });
    expect(locate(root, ['b', 'c'], true)).toEqual({ file: '/r/recipe.yaml', line: 3, column: 3 });
    // A missing key points at the deepest node that exists.
    expect(locate(root, ['b', 'missing'])).toEqual({ file: '/r/recipe.yaml', line: 3, column: 3 });
  });

  it('types plain scalars like YAML 1.2 but keeps leading-zero numbers (modes) as text', () => {
    const { root } = parse('a: 0644\nb: 644\nc: true\nd: ~\ne: "12"\nf: 1.5\ng: !!str 7\nh: 0x10\n');
    expect(toValue(root!)).toEqual({ a: '0644', b: 644, c: true, d: null, e: '12', f: 1.5, g: '7', h: 16 });
  });

  it('supports anchors, aliases and merge keys', () => {
    const { root, problems } = parse(
      'defaults: &d\n  mode: "0644"\n  owner: root\nlist: &l [1, 2]\nfile:\n  <<: *d\n  mode: "0600"\nagain: *l\n',
    );
    expect(problems).toEqual([]);
    expect(toValue(root!)).toEqual({
      defaults: { mode: '0644', owner: 'root' },
      list: [1, 2],
      file: { mode: '0600', owner: 'root' },
      again: [1, 2],
    });
  });

  it('marks !replace collections', () => {
    const { root } = parse('a: !replace [1]\nb: !replace {x: 1}\nc: [2]\n');
    expect(root?.kind === 'map' && root.entries.get('a')?.value).toMatchObject({
      kind: 'seq',
      replace: true,
    });
    expect(root?.kind === 'map' && root.entries.get('b')?.value).toMatchObject({
      kind: 'map',
      replace: true,
    });
    expect(root?.kind === 'map' && root.entries.get('c')?.value).toMatchObject({
      kind: 'seq',
      replace: false,
    });
  });

  it('rejects a recursive alias', () => {
    const { root, problems } = parse('a: &a\n  b: *a\n');
    expect(root).toBeUndefined();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ line: 2, message: expect.stringMatching(/recursive alias \*a/) });
  });

  it('rejects billion-laughs expansion quickly and with a clear message', () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    const names = 'abcdefghij';
    for (let i = 1; i < names.length; i++) {
      const prev = names[i - 1];
      lines.push(`${names[i]}: &${names[i]} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const started = performance.now();
    const { root, problems } = parse(`${lines.join('\n')}\n`);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(root).toBeUndefined();
    expect(problems[0]!.message).toMatch(/billion laughs/);
    expect(problems[0]!.hint).toContain(String(MAX_EXPANDED_WEIGHT));
  });

  it('reports YAML syntax errors with positions and hints', () => {
    const tab = parse('a:\n\tb: 1\n');
    expect(tab.problems[0]).toMatchObject({
      line: 2,
      column: 1,
      kind: 'yaml',
      hint: expect.stringMatching(/spaces/),
    });
    const indent = parse('a:\n  b: 1\n c: 2\n');
    expect(indent.problems[0]).toMatchObject({ line: 3, message: expect.stringMatching(/indentation/) });
  });

  it('reports duplicate keys with both lines', () => {
    const { problems } = parse('a: 1\nb: 2\na: 3\n');
    expect(problems).toEqual([
      expect.objectContaining({ line: 3, column: 1, message: 'duplicate key "a" (first defined at line 1)' }),
    ]);
  });

  it('reports unknown aliases, unsupported tags, non-scalar keys, empty and multi-document files', () => {
    expect(parse('a: *nope\n').problems[0]!.message).toMatch(/unknown alias \*nope/);
    expect(parse('a: !!binary aGVsbG8=\n').problems[0]!.message).toMatch(/unsupported YAML tag !!binary/);
    expect(parse('a: !custom x\n').problems[0]!.message).toMatch(/unsupported YAML tag !custom/);
    expect(parse('a: !!int abc\n').problems[0]!.message).toMatch(/cannot read "abc" as !!int/);
    expect(parse('? [a]\n: 1\n').problems[0]!.message).toMatch(/keys must be plain strings/);
    expect(parse('').problems[0]!.message).toMatch(/empty/);
    expect(parse('a: 1\n---\nb: 2\n').problems[0]).toMatchObject({
      line: 2,
      message: expect.stringMatching(/one YAML document/),
    });
  });

  it('rejects oversized files and deep nesting', () => {
    expect(parse(`a: "${'x'.repeat(4 * 1024 * 1024)}"\n`).problems[0]!.message).toMatch(/larger than 4 MiB/);
    const deep = `${'['.repeat(200)}${']'.repeat(200)}`;
    expect(parse(deep).problems[0]!.kind).toBe('yaml');
    // Depth reached through aliases counts too.
    const nested = (n: number) => `${'['.repeat(n)}1${']'.repeat(n)}`;
    const viaAlias = `a: &a ${nested(40)}\nb: &b [${nested(20).replace('1', '*a')}]\nc: [${nested(20).replace('1', '*b')}]\n`;
    expect(parse(viaAlias).problems[0]!.message).toMatch(/nesting deeper/);
  });

  it('keeps __proto__ an ordinary key', () => {
    const { root } = parse('__proto__:\n  polluted: true\n');
    const value = toValue(root!) as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
