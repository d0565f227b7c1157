import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectDroverError, fixture, HEADER } from '../test/helpers.js';
import { loadRecipe, parseSetOptions, validateRecipe } from './load.js';
import { lockRecipe } from './lock.js';
import type { RecipeProblem } from './problems.js';

const EXAMPLES = join(import.meta.dirname, '..', '..', '..', 'examples');

describe('examples', () => {
  it.each(['minimal', 'ab-verity', 'edge-fleet'])('examples/%s/recipe.yaml is valid', async (name) => {
    const report = await validateRecipe({ path: join(EXAMPLES, name, 'recipe.yaml') });
    expect(report.problems).toEqual([]);
    expect(report.valid).toBe(true);
  });

  it.each([
    'minimal',
    'ab-verity',
    'edge-fleet',
  ])('examples/%s/drover.lock is committed and up to date (a --frozen lock passes)', async (name) => {
    const result = await lockRecipe({ path: join(EXAMPLES, name, 'recipe.yaml'), frozen: true });
    expect(result.upToDate).toBe(true);
    expect(result.written).toBe(false);
  });

  it('expands the multi-variant example into stable ids with overrides applied', async () => {
    const loaded = await loadRecipe({ path: join(EXAMPLES, 'edge-fleet', 'recipe.yaml') });
    expect(loaded.matrix.map((c) => c.id)).toEqual([
      'x86_64-standard',
      'x86_64-debug',
      'aarch64-standard',
      'aarch64-debug',
    ]);
    const debugArm = loaded.recipes.find((r) => r.id === 'aarch64-debug')!;
    expect(debugArm.variant).toEqual({ arch: 'aarch64', flavor: 'debug' });
    expect(debugArm.metadata.name).toBe('edge-debug');
    expect(debugArm.base.platform).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(debugArm.disk.architecture).toBe('aarch64');
    expect(debugArm.boot.kernelArgs).toEqual(['console=tty0', 'debug', 'loglevel=7']);
    expect(debugArm.outputs).toEqual([{ type: 'disk' }, { type: 'rootfs-tar' }]);
    expect(debugArm.layers.map((l) => l.type)).toEqual(['copy', 'settings', 'file', 'settings', 'directory']);
    const settings = debugArm.layers[3]!;
    expect(settings.type === 'settings' && settings.content).toBe(
      '[updates]\nchannel = "beta"\nwaves = true\n\n[node]\narch = "aarch64"\n',
    );
    const std = loaded.recipes.find((r) => r.id === 'x86_64-standard')!;
    expect(std.outputs).toEqual([{ type: 'disk' }]);
    expect(std.variables.channel).toBe('stable');
    expect(std.files.map((f) => f.split('/').pop())).toEqual(['recipe.yaml', 'common.yaml']);
    // Sources declared in the parent resolve relative to the parent's folder.
    const copy = std.layers[0]!;
    expect(copy.type === 'copy' && copy.source).toBe(join(EXAMPLES, 'edge-fleet', 'rootfs'));
  });

  it('resolves the A/B example with defaults, sizes and modes', async () => {
    const recipe = (await loadRecipe({ path: join(EXAMPLES, 'ab-verity', 'recipe.yaml') })).recipes[0]!;
    expect(recipe.disk).toMatchObject({
      layout: 'ab',
      size: 4 * 1024 ** 3,
      partitions: {
        boot: 40 * 2 ** 20,
        root: 2 ** 30,
        hash: 32 * 2 ** 20,
        reserved: 16 * 2 ** 20,
        private: 16 * 2 ** 20,
      },
      data: { size: 'rest', filesystem: 'ext4', label: 'DATA' },
    });
    expect(recipe.verity).toMatchObject({
      enabled: true,
      fecRoots: 2,
      dataBlockSize: 4096,
      saltSource: 'derived',
    });
    expect(recipe.verity.salt).toMatch(/^[0-9a-f]{64}$/);
    expect(recipe.filesystem.sourceDateEpoch).toBe(1700000000);
    const template = recipe.layers[2]!;
    expect(template).toMatchObject({ type: 'template', path: '/etc/os-release.d/drover', mode: 0o644 });
    expect(recipe.layers[3]).toMatchObject({
      type: 'directory',
      owner: { user: 1000, group: 1000 },
      mode: 0o750,
    });
  });
});

describe('validation', () => {
  it('reports every problem at once with file, line, column, path, message and hint', async () => {
    const dir = await fixture({
      'recipe.yaml': `${HEADER}layers:
  - copy:
      from: files
      to: /etc
      mdoe: "0644"
  - file:
      path: etc/motd
      content: hi
filesystem:
  type: erofz
verity:
  fecRoots: 4
  hashBlockSize: 1KiB
disk:
  layout: ab
  size: 1GiB
  architecture: x86_64
  partitions:
    root: 1GiB
    hash: 16MiB
`,
      'files/x': 'x',
    });
    const report = await validateRecipe({ path: join(dir, 'recipe.yaml') });
    expect(report.valid).toBe(false);
    const byPath = Object.fromEntries(report.problems.map((p) => [p.path, p]));
    expect(byPath['layers[0].copy.mdoe']).toMatchObject({
      file: join(dir, 'recipe.yaml'),
      line: 12,
      column: 7,
      message: 'unknown key "mdoe"',
      hint: 'did you mean "mode"?',
      kind: 'unknown-key',
    });
    expect(byPath['layers[1].file.path']).toMatchObject({
      line: 14,
      column: 13,
      message: expect.stringMatching(/absolute/),
    });
    expect(byPath['filesystem.type']).toMatchObject({ line: 17, hint: 'did you mean "erofs"?' });
    expect(byPath['verity.fecRoots']).toMatchObject({
      message: expect.stringMatching(/FEC needs equal block sizes/),
    });
    expect(byPath['disk.size']).toMatchObject({
      message: expect.stringMatching(/partitions need .* but the disk is 1024MiB/),
    });
    expect(report.problems.map((p) => p.path)).toEqual([
      'layers[0].copy.mdoe',
      'layers[1].file.path',
      'filesystem.type',
      'verity.fecRoots',
      'disk.size',
      'disk.partitions.hash',
    ]);
  });

  it('throws one RECIPE_INVALID whose message renders file:line:col path: message (hint)', async () => {
    const dir = await fixture({ 'r.yaml': `${HEADER}outputs: [disk]\nboot:\n  kernelArgs: [roothash=1]\n` });
    const error = await expectDroverError(() => loadRecipe({ path: join(dir, 'r.yaml') }), 'RECIPE_INVALID');
    const problems = error.details!.problems as RecipeProblem[];
    expect(problems).toHaveLength(2);
    expect(error.message).toContain(
      `${join(dir, 'r.yaml')}:8:11 outputs[0]: output disk needs a disk layout`,
    );
    expect(error.message).toMatch(
      /:10:16 boot\.kernelArgs\[0\]: roothash= is set by the build \(The build adds/,
    );
    expect(error.kind).toBe('input');
    expect(error.hint).toMatch(/drover recipe schema/);
  });

  it('reports missing required keys at the mapping that lacks them', async () => {
    const report = await validateRecipe({
      text: 'apiVersion: drover.dev/v1\nkind: Recipe\nmetadata:\n  name: x\nbase: {}\n',
    });
    const messages = report.problems.map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`);
    expect(messages).toContain('3:1 metadata: missing required key "version"');
    expect(messages).toContain('5:7 base: base needs one of registry, layout, directory or tar');
    expect(report.file).toBe('<input>');
  });

  it('returns YAML errors as problems with positions', async () => {
    const report = await validateRecipe({
      text: 'apiVersion: drover.dev/v1\nkind: Recipe\nmetadata:\n\tname: x\n',
    });
    expect(report.problems).toEqual([expect.objectContaining({ line: 4, column: 1, kind: 'yaml' })]);
  });

  it('reports missing sources and enforces one action per layer', async () => {
    const dir = await fixture({
      'r.yaml': `${HEADER}layers:\n  - copy: { from: nope, to: / }\n    file: { path: /x, content: y }\n  - file: { path: /y, template: missing.tmpl }\n`,
    });
    const report = await validateRecipe({ path: join(dir, 'r.yaml') });
    expect(report.problems.map((p) => p.message)).toEqual([
      expect.stringMatching(/a layer has one action, found copy and file/),
    ]);
    const dir2 = await fixture({
      'r.yaml': `${HEADER}layers:\n  - copy: { from: nope, to: / }\n  - file: { path: /y, template: missing.tmpl }\n`,
    });
    const report2 = await validateRecipe({ path: join(dir2, 'r.yaml') });
    expect(report2.problems.map((p) => `${p.path}: ${p.message.split(' (')[0]}`)).toEqual([
      'layers[0].copy.from: source nope does not exist',
      'layers[1].file.template: source missing.tmpl does not exist',
    ]);
  });

  it('fails with RECIPE_NOT_FOUND for a missing file', async () => {
    const error = await expectDroverError(
      () => loadRecipe({ path: '/nonexistent/recipe.yaml' }),
      'RECIPE_NOT_FOUND',
    );
    expect(error.kind).toBe('not-found');
  });
});

describe('extends', () => {
  it('merges maps, appends lists, replaces with !replace and removes with null', async () => {
    const dir = await fixture({
      'common/base.yaml': `apiVersion: drover.dev/v1
kind: Recipe
metadata:
  name: test
  version: 1.0.0
  labels: { a: "1", b: "2" }
base:
  layout: ../base
layers:
  - copy: { from: files, to: /etc }
boot:
  kernelArgs: [quiet]
outputs: [filesystem]
verity:
  fecRoots: 2
`,
      'common/files/f': 'f',
      'app/recipe.yaml': `extends: ../common/base.yaml
metadata:
  name: app
  labels: { b: "3" }
layers:
  - file: { path: /etc/app, content: app }
boot:
  kernelArgs: !replace [console=ttyS0]
outputs: [rootfs-tar]
verity:
  fecRoots: null
`,
    });
    const [r] = (await loadRecipe({ path: join(dir, 'app/recipe.yaml') })).recipes;
    expect(r!.metadata).toEqual({ name: 'app', version: '1.0.0', labels: { a: '1', b: '3' } });
    expect(r!.layers.map((l) => l.type)).toEqual(['copy', 'file']);
    expect(r!.layers[0]).toMatchObject({ source: join(dir, 'common/files') });
    expect(r!.boot.kernelArgs).toEqual(['console=ttyS0']);
    expect(r!.outputs).toEqual([{ type: 'filesystem' }, { type: 'rootfs-tar' }]);
    expect(r!.verity.fecRoots).toBeUndefined();
    // The base layout is resolved relative to the file that named it.
    expect(r!.base).toMatchObject({ type: 'layout', path: join(dir, 'base') });
  });

  it('points problems inherited from a parent at the parent file', async () => {
    const dir = await fixture({
      'base.yaml': `${HEADER}filesystem:\n  type: btrfs\n`,
      'child.yaml': 'extends: base.yaml\n',
    });
    const report = await validateRecipe({ path: join(dir, 'child.yaml') });
    expect(report.problems).toEqual([
      expect.objectContaining({ file: join(dir, 'base.yaml'), line: 9, column: 9, path: 'filesystem.type' }),
    ]);
  });

  it('detects cycles and missing parents', async () => {
    const dir = await fixture({
      'a.yaml': `extends: b.yaml\n${HEADER}`,
      'b.yaml': 'extends: [a.yaml, missing.yaml]\n',
    });
    const report = await validateRecipe({ path: join(dir, 'a.yaml') });
    const messages = report.problems.map(
      (p) => `${p.file.split('/').pop()}:${p.line} ${p.path}: ${p.message}`,
    );
    expect(messages).toEqual([
      'b.yaml:1 extends[0]: extends cycle: a.yaml -> b.yaml -> a.yaml',
      expect.stringMatching(/^b\.yaml:1 extends\[1\]: cannot read .*missing\.yaml/),
    ]);
  });
});

describe('variables', () => {
  const recipe = `${HEADER}variables:
  greeting: hello
  who: world
  message: \${greeting}, \${who}
  roots: 2
layers:
  - file: { path: /etc/motd, content: "\${message} $\${HOME}" }
verity:
  fecRoots: \${roots}
`;

  it('interpolates recipe variables, DROVER_VAR_* and --set in that order of precedence', async () => {
    const dir = await fixture({ 'r.yaml': recipe });
    const path = join(dir, 'r.yaml');
    const plain = (await loadRecipe({ path })).recipes[0]!;
    expect(plain.layers[0]).toMatchObject({ content: 'hello, world ${HOME}' });
    expect(plain.verity.fecRoots).toBe(2); // `${roots}` alone on a plain scalar is typed like YAML
    const env = (await loadRecipe({ path, env: { DROVER_VAR_who: 'env', DROVER_VAR_roots: '4' } }))
      .recipes[0]!;
    expect(env.layers[0]).toMatchObject({ content: 'hello, env ${HOME}' });
    expect(env.verity.fecRoots).toBe(4);
    const set = (await loadRecipe({ path, env: { DROVER_VAR_who: 'env' }, set: ['who=cli'] })).recipes[0]!;
    expect(set.layers[0]).toMatchObject({ content: 'hello, cli ${HOME}' });
    expect(set.variables).toMatchObject({ who: 'cli', message: 'hello, cli' });
  });

  it('treats an undefined variable as an error with a suggestion, never as empty', async () => {
    const dir = await fixture({
      'r.yaml': `${HEADER}layers:\n  - file: { path: /etc/motd, content: "\${greating}" }\nvariables:\n  greeting: hi\n`,
    });
    const report = await validateRecipe({ path: join(dir, 'r.yaml') });
    expect(report.problems).toEqual([
      expect.objectContaining({
        line: 9,
        path: 'layers[0].file.content',
        message: 'undefined variable ${greating}',
        hint: expect.stringMatching(/did you mean \$\{greeting\}\?/),
        kind: 'variable',
      }),
    ]);
  });

  it('reports cycles, bad references and exponential expansion', async () => {
    const dir = await fixture({
      'r.yaml': `${HEADER}variables:\n  a: \${b}\n  b: \${a}\n  c: "\${not valid}"\n  d: "\${unterminated"\n`,
    });
    const messages = (await validateRecipe({ path: join(dir, 'r.yaml') })).problems.map((p) => p.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/variable a refers to itself \(a -> b -> a\)/),
        expect.stringMatching(/is not a valid variable reference/),
        expect.stringMatching(/unterminated variable reference/),
      ]),
    );
    const vars = ['x0: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'];
    for (let i = 1; i < 30; i++) vars.push(`x${i}: "\${x${i - 1}}\${x${i - 1}}"`);
    const bomb = await fixture({ 'r.yaml': `${HEADER}variables:\n  ${vars.join('\n  ')}\n` });
    const started = performance.now();
    const report = await validateRecipe({ path: join(bomb, 'r.yaml') });
    expect(performance.now() - started).toBeLessThan(5000);
    expect(report.problems.some((p) => /expands to more than/.test(p.message))).toBe(true);
  });

  it('parses --set pairs and rejects malformed ones as usage errors', async () => {
    expect(parseSetOptions(['a=1', 'b=x=y', 'c='])).toEqual({ a: '1', b: 'x=y', c: '' });
    expect(() => parseSetOptions(['novalue'])).toThrow(
      expect.objectContaining({ code: 'RECIPE_SET_INVALID', kind: 'usage' }),
    );
    expect(() => parseSetOptions(['1a=b'])).toThrow(expect.objectContaining({ code: 'RECIPE_SET_INVALID' }));
  });

  it('takes sourceDateEpoch from the recipe, else SOURCE_DATE_EPOCH', async () => {
    const dir = await fixture({ 'r.yaml': HEADER, 's.yaml': `${HEADER}filesystem:\n  sourceDateEpoch: 5\n` });
    const fromEnv = (await loadRecipe({ path: join(dir, 'r.yaml'), env: { SOURCE_DATE_EPOCH: '1234' } }))
      .recipes[0]!;
    expect(fromEnv.filesystem.sourceDateEpoch).toBe(1234);
    const none = (await loadRecipe({ path: join(dir, 'r.yaml') })).recipes[0]!;
    expect(none.filesystem.sourceDateEpoch).toBeUndefined();
    const recipeWins = (await loadRecipe({ path: join(dir, 's.yaml'), env: { SOURCE_DATE_EPOCH: '1234' } }))
      .recipes[0]!;
    expect(recipeWins.filesystem.sourceDateEpoch).toBe(5);
    await expectDroverError(
      () => loadRecipe({ path: join(dir, 'r.yaml'), env: { SOURCE_DATE_EPOCH: 'yesterday' } }),
      'SOURCE_DATE_EPOCH_INVALID',
    );
  });
});

describe('variants', () => {
  it('reports matrix problems at their position and filters by id', async () => {
    const dir = await fixture({
      'r.yaml': `${HEADER}variants:
  matrix:
    arch: [x86_64, aarch64]
    flavor: { small: {}, big: { disk: { layout: none } } }
  exclude:
    - { arch: aarch64, flavour: big }
`,
    });
    const report = await validateRecipe({ path: join(dir, 'r.yaml') });
    expect(report.problems).toEqual([
      expect.objectContaining({
        line: 13,
        path: 'variants.exclude[0].flavour',
        message: 'exclude names unknown axis flavour',
        hint: 'did you mean "flavor"?',
      }),
    ]);
    const ok = await fixture({
      'r.yaml': `${HEADER}variants:\n  matrix:\n    arch: [x86_64, aarch64]\n  exclude: [{ arch: aarch64 }]\n`,
    });
    const loaded = await loadRecipe({ path: join(ok, 'r.yaml'), variants: ['x86_64'] });
    expect(loaded.matrix.map((m) => m.id)).toEqual(['x86_64']);
    expect(loaded.recipes.map((r) => r.variables.variant)).toEqual(['x86_64']);
    const error = await expectDroverError(
      () => loadRecipe({ path: join(ok, 'r.yaml'), variants: ['x86-64'] }),
      'RECIPE_VARIANT_NOT_FOUND',
    );
    expect(error.hint).toMatch(/Did you mean x86_64/);
  });

  it('checks override fragments inside each variant with positions in the variants section', async () => {
    const dir = await fixture({
      'r.yaml': `${HEADER}variants:
  matrix:
    flavor:
      a: {}
      b:
        verity: { algoritm: sha256 }
`,
    });
    const report = await validateRecipe({ path: join(dir, 'r.yaml') });
    expect(report.problems).toEqual([
      expect.objectContaining({
        line: 13,
        column: 19,
        path: 'verity.algoritm',
        hint: 'did you mean "algorithm"?',
      }),
    ]);
  });

  it('keeps positions for later errors', async () => {
    const dir = await fixture({ 'r.yaml': `${HEADER}layers:\n  - directory: { path: /x, mode: "0700" }\n` });
    const loaded = await loadRecipe({ path: join(dir, 'r.yaml') });
    expect(loaded.positions.default!['layers[0].directory.mode']).toEqual({
      file: join(dir, 'r.yaml'),
      line: 9,
      column: 34,
    });
  });
});

describe('variant overrides', () => {
  it('may not change apiVersion, kind, extends or variants', async () => {
    const dir = await fixture({
      'r.yaml': `${HEADER}variants:\n  matrix:\n    flavor:\n      a: { extends: other.yaml, kind: Recipe, boott: {} }\n`,
    });
    const report = await validateRecipe({ path: join(dir, 'r.yaml') });
    expect(report.problems.map((p) => `${p.line}:${p.column} ${p.path}: ${p.message} (${p.hint})`)).toEqual([
      expect.stringMatching(
        /^11:12 variants\.matrix\.flavor\.a\.extends: extends cannot be overridden by a variant \(Variants may override metadata, /,
      ),
      expect.stringMatching(/^11:33 variants\.matrix\.flavor\.a\.kind: kind cannot be overridden/),
      '11:47 boott: unknown key "boott" (did you mean "boot"?)',
    ]);
  });
});

describe('problem messages', () => {
  it('are readable for every kind of schema problem', async () => {
    const report = await validateRecipe({
      text: `apiVersion: drover.dev/v1
kind: Recipe
metadata:
  name: x
  version: "1.0"
  labels: { "bad key": v }
variables:
  list: [1]
  ok: \${missing}
base: { registry: ghcr.io/a/b:1 }
layers:
  - remove: []
  - settings: { path: /etc/s, values: {} }
  - copy: { from: x, to: / , owner: "Root User" }
filesystem:
  label: "this label is far too long"
  compressionLevel: 1.5
  blockSize: 3000
verity:
  salt: XYZ
  dataBlockSize: 3KiB
  options: [restart_on_corruption, panic_on_corruption]
disk:
  layout: none
  size: 1GiB
outputs:
  - { type: oci, compression: zstd, path: ../x }
  - { type: filesystem, ref: ghcr.io/a/b:1 }
`,
    });
    const lines = report.problems.map((p) => `${p.path}: ${p.message}`);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^metadata\.version: version must be a semantic version/),
        expect.stringMatching(/^metadata\.labels\["bad key"\]: invalid key: label keys are/),
        expect.stringMatching(/^variables\.list: a variable is a string, number or boolean/),
        'variables.ok: undefined variable ${missing}',
        'layers[0].remove: needs at least 1 item',
        'layers[1].settings.format: cannot tell the settings format from the path',
        'layers[2].copy.owner: not an owner: "Root User"',
        'filesystem.label: needs at most 16 characters',
        'filesystem.compressionLevel: expected a whole number',
        'filesystem.blockSize: blockSize must be a power of two from 512 to 64KiB',
        expect.stringMatching(/^verity\.salt: salt must be lowercase hex/),
        'verity.dataBlockSize: dataBlockSize must be a power of two from 512 to 512KiB',
        'verity.options: conflicting corruption handling: restart_on_corruption, panic_on_corruption',
        'disk.size: disk.size has no effect with layout none',
        'outputs[0].path: output path may not contain ".."',
        'outputs[0].compression: compression does not apply to the oci output',
        'outputs[1].ref: ref only applies to the oci output',
      ]),
    );
    expect(lines).toHaveLength(17);
  });
});
