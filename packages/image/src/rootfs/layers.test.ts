import { chmod, link, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDroverError } from '@drover/core';
import { RootfsTree } from '@drover/oci';
import type { ResolvedLayer } from '@drover/recipe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratch } from '../../test/helpers.js';
import { compileGlob } from './glob.js';
import { applyLayers } from './layers.js';
import { normalizeTree } from './normalize.js';
import { EPOCH } from './test-util.js';

let dir: string;
let recipeDir: string;
beforeAll(async () => {
  dir = await scratch('rootfs-layers');
  recipeDir = join(dir, 'recipe');
  await mkdir(join(recipeDir, 'files/etc/app/conf.d'), { recursive: true });
  await writeFile(join(recipeDir, 'files/etc/app/main.conf'), 'main\n');
  await writeFile(join(recipeDir, 'files/etc/app/run.sh'), '#!/bin/sh\n');
  await chmod(join(recipeDir, 'files/etc/app/run.sh'), 0o700);
  await writeFile(join(recipeDir, 'files/etc/app/README.md'), 'docs');
  await writeFile(join(recipeDir, 'files/etc/app/conf.d/a.conf'), 'a');
  await writeFile(join(recipeDir, 'files/etc/app/conf.d/notes.md'), 'n');
  await link(join(recipeDir, 'files/etc/app/main.conf'), join(recipeDir, 'files/etc/app/main-link.conf'));
  await symlink('main.conf', join(recipeDir, 'files/etc/app/current'));
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a recipe template, not a JS one
  await writeFile(join(recipeDir, 'motd.tmpl'), 'Welcome to ${name} ${version}\n');
  await writeFile(join(dir, 'secret'), 'secret');
  await symlink(join(dir, 'secret'), join(recipeDir, 'leak'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const root = { user: 0, group: 0 };

function base(): RootfsTree {
  const tree = new RootfsTree();
  const mk = (parent: ReturnType<RootfsTree['get']>, name: string, dirMode = 0o755) =>
    tree.link(
      parent!,
      name,
      tree.newInode({ type: 'dir', mode: dirMode, uid: 0, gid: 0, mtime: { sec: 10, nsec: 0 } }),
      -1,
    );
  const etc = mk(tree.root, 'etc');
  const passwd = tree.newInode({ type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: { sec: 10, nsec: 0 } });
  const data = Buffer.from('root:x:0:0::/root:/bin/sh\nsvc:x:999:998::/:/bin/false\n');
  passwd.size = data.length;
  passwd.content = { kind: 'inline', data };
  tree.link(etc, 'passwd', passwd, -1);
  const group = tree.newInode({ type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: { sec: 10, nsec: 0 } });
  const gdata = Buffer.from('root:x:0:\nsvc:x:998:\n');
  group.size = gdata.length;
  group.content = { kind: 'inline', data: gdata };
  tree.link(etc, 'group', group, -1);
  const usr = mk(tree.root, 'usr');
  mk(usr, 'lib');
  tree.link(
    tree.root,
    'lib',
    tree.newInode({
      type: 'symlink',
      mode: 0o777,
      uid: 0,
      gid: 0,
      mtime: { sec: 10, nsec: 0 },
      target: 'usr/lib',
    }),
    -1,
  );
  tree.link(
    tree.root,
    'escape',
    tree.newInode({
      type: 'symlink',
      mode: 0o777,
      uid: 0,
      gid: 0,
      mtime: { sec: 10, nsec: 0 },
      target: '../../../../outside',
    }),
    -1,
  );
  return tree;
}

async function apply(tree: RootfsTree, layers: ResolvedLayer[], variables: Record<string, string> = {}) {
  return applyLayers({ tree, layers, variables, sourceDateEpoch: EPOCH });
}

async function expectError(promise: Promise<unknown>, code: string, hint: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isDroverError(error, code), String(error)).toBe(true);
  expect((error as { hint?: string }).hint).toMatch(hint);
}

async function text(tree: RootfsTree, path: string): Promise<string> {
  const node = tree.get(path)!;
  const chunks: Buffer[] = [];
  for await (const c of tree.openContent(node.inode)) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('applyLayers', () => {
  it('applies file, template, settings, symlink, directory and remove layers', async () => {
    const tree = base();
    const result = await apply(
      tree,
      [
        { type: 'file', path: '/etc/hostname', content: 'box\n', owner: root, mode: 0o644 },
        {
          type: 'template',
          path: '/etc/motd',
          from: 'motd.tmpl',
          source: join(recipeDir, 'motd.tmpl'),
          owner: { user: 'svc', group: 'svc' },
          mode: 0o600,
        },
        {
          type: 'settings',
          path: '/etc/app/settings.toml',
          format: 'toml',
          values: { a: 1 },
          content: 'a = 1\n',
          owner: root,
          mode: 0o644,
        },
        { type: 'symlink', path: '/usr/bin/sh', target: 'busybox', owner: root },
        { type: 'directory', path: '/var/lib/app', owner: { user: 999, group: 998 }, mode: 0o2750 },
        { type: 'directory', path: '/etc', owner: root, mode: 0o750 },
        { type: 'remove', paths: ['/etc/group', '/does/not/exist', '/usr'] },
      ],
      { name: 'drover', version: '1.2' },
    );
    expect(await text(tree, 'etc/motd')).toBe('Welcome to drover 1.2\n');
    expect(tree.get('etc/motd')!.inode).toMatchObject({
      uid: 999,
      gid: 998,
      mode: 0o600,
      mtime: { sec: EPOCH, nsec: 0 },
    });
    expect(await text(tree, 'etc/app/settings.toml')).toBe('a = 1\n');
    // parents made on the way: 0755 root:root at the epoch
    expect(tree.get('etc/app')!.inode).toMatchObject({
      type: 'dir',
      mode: 0o755,
      uid: 0,
      gid: 0,
      mtime: { sec: EPOCH, nsec: 0 },
    });
    expect(tree.get('var/lib/app')!.inode).toMatchObject({ type: 'dir', mode: 0o2750, uid: 999, gid: 998 });
    expect(tree.get('etc')!.inode.mode).toBe(0o750);
    expect(tree.get('etc/passwd')).toBeDefined();
    expect(tree.get('etc/group')).toBeUndefined();
    expect(tree.get('usr')).toBeUndefined();
    // added: hostname, motd, app, settings.toml, usr/bin, sh, var, var/lib, var/lib/app = 9
    expect(result).toEqual({ added: 9, changed: 1, removed: 2 });
  });

  it('copies directories with owner, modes, excludes, symlinks and hardlinks, referencing host files', async () => {
    const tree = base();
    await apply(tree, [
      {
        type: 'copy',
        from: 'files/etc',
        source: join(recipeDir, 'files/etc'),
        to: '/etc',
        owner: { user: 'svc', group: 0 },
        dirMode: 0o750,
        exclude: ['*.md'],
      },
      {
        type: 'copy',
        from: 'motd.tmpl',
        source: join(recipeDir, 'motd.tmpl'),
        to: '/srv/',
        owner: root,
        mode: 0o444,
        dirMode: 0o700,
        exclude: [],
      },
      {
        type: 'copy',
        from: 'motd.tmpl',
        source: join(recipeDir, 'motd.tmpl'),
        to: '/srv/renamed',
        owner: root,
        dirMode: 0o755,
        exclude: [],
      },
    ]);
    expect(tree.get('etc')!.inode.mode).toBe(0o755); // existing directories keep their attributes
    expect(tree.get('etc/app')!.inode).toMatchObject({ mode: 0o750, uid: 999, gid: 0 });
    const main = tree.get('etc/app/main.conf')!.inode;
    expect(main).toMatchObject({
      mode: 0o644,
      uid: 999,
      size: 5,
      content: { kind: 'host', path: join(recipeDir, 'files/etc/app/main-link.conf') },
    });
    expect(tree.get('etc/app/main-link.conf')!.inode).toBe(main);
    expect(main.nlink).toBe(2);
    expect(tree.get('etc/app/run.sh')!.inode.mode).toBe(0o755);
    expect(tree.get('etc/app/current')!.inode).toMatchObject({ type: 'symlink', target: 'main.conf' });
    expect(tree.get('etc/app/README.md')).toBeUndefined();
    expect(tree.get('etc/app/conf.d/notes.md')).toBeUndefined();
    expect(tree.get('etc/app/conf.d/a.conf')).toBeDefined();
    expect(tree.get('srv')!.inode.mode).toBe(0o700);
    expect(tree.get('srv/motd.tmpl')!.inode.mode).toBe(0o444);
    expect(tree.get('srv/renamed')!.inode.mode).toBe(0o644);
  });

  it('resolves symlinks inside the image, never outside it', async () => {
    const tree = base();
    await apply(tree, [
      { type: 'file', path: '/lib/x.so', content: 'x', owner: root, mode: 0o644 },
      { type: 'file', path: '/escape/y', content: 'y', owner: root, mode: 0o644 },
    ]);
    expect(tree.get('usr/lib/x.so')).toBeDefined();
    // `..` stops at the image root: ../../../../outside is /outside
    expect(tree.get('outside/y')).toBeDefined();
    expect(tree.get('lib')!.inode.type).toBe('symlink');
    // writing at a symlink's own path replaces the link, not its target
    await apply(tree, [{ type: 'file', path: '/lib', content: 'z', owner: root, mode: 0o644 }]);
    expect(tree.get('lib')!.inode.type).toBe('file');
    expect(tree.get('usr/lib/x.so')).toBeDefined();
  });

  it('refuses bad paths, missing and escaping sources, unknown owners, with the layer index in the hint', async () => {
    const tree = base();
    const file = (path: string): ResolvedLayer => ({
      type: 'file',
      path,
      content: '',
      owner: root,
      mode: 0o644,
    });
    await expectError(apply(tree, [file('relative/x')]), 'LAYER_PATH_INVALID', /layer 0/);
    await expectError(
      apply(tree, [file('/ok'), file('/a/../../etc/passwd')]),
      'LAYER_PATH_INVALID',
      /layer 1/,
    );
    await expectError(apply(tree, [file('/')]), 'LAYER_PATH_INVALID', /layer 0/);
    await expectError(apply(tree, [file('/etc/passwd/x')]), 'LAYER_PATH_NOT_DIRECTORY', /layer 0/);
    await expectError(
      apply(tree, [
        {
          type: 'copy',
          from: 'nope',
          source: join(recipeDir, 'nope'),
          to: '/x',
          owner: root,
          dirMode: 0o755,
          exclude: [],
        },
      ]),
      'LAYER_SOURCE_MISSING',
      /layer 0/,
    );
    await expectError(
      apply(tree, [
        {
          type: 'copy',
          from: 'leak',
          source: join(recipeDir, 'leak'),
          to: '/x',
          owner: root,
          dirMode: 0o755,
          exclude: [],
        },
      ]),
      'LAYER_SOURCE_ESCAPE',
      /layer 0/,
    );
    await expectError(
      apply(tree, [
        {
          type: 'template',
          path: '/t',
          from: 'motd.tmpl',
          source: join(recipeDir, 'motd.tmpl'),
          owner: root,
          mode: 0o644,
        },
      ]),
      'RECIPE_VARIABLE_UNDEFINED',
      /./,
    );
    await expectError(
      apply(tree, [
        { type: 'file', path: '/x', content: '', owner: { user: 'nobody', group: 0 }, mode: 0o644 },
      ]),
      'LAYER_OWNER_UNKNOWN',
      /layer 0/,
    );
    const loop = base();
    loop.link(
      loop.root,
      'l1',
      loop.newInode({
        type: 'symlink',
        mode: 0o777,
        uid: 0,
        gid: 0,
        mtime: { sec: 0, nsec: 0 },
        target: 'l2',
      }),
      -1,
    );
    loop.link(
      loop.root,
      'l2',
      loop.newInode({
        type: 'symlink',
        mode: 0o777,
        uid: 0,
        gid: 0,
        mtime: { sec: 0, nsec: 0 },
        target: 'l1',
      }),
      -1,
    );
    await expectError(apply(loop, [file('/l1/x')]), 'LAYER_SYMLINK_LOOP', /layer 0/);
    loop.link(
      loop.root,
      'long',
      loop.newInode({
        type: 'symlink',
        mode: 0o777,
        uid: 0,
        gid: 0,
        mtime: { sec: 0, nsec: 0 },
        target: 'x'.repeat(300),
      }),
      -1,
    );
    await expectError(apply(loop, [file('/ok'), file('/long/y')]), 'LAYER_PATH_INVALID', /layer 1/);
  });
});

describe('normalizeTree', () => {
  it('clamps later mtimes to the epoch and gives symlinks mode 0777', () => {
    const tree = base();
    tree.get('etc')!.inode.mtime = { sec: EPOCH + 10, nsec: 5 };
    tree.get('etc/passwd')!.inode.mtime = { sec: EPOCH, nsec: 1 };
    tree.get('usr')!.inode.mtime = { sec: EPOCH - 1, nsec: 999 };
    tree.get('lib')!.inode.mode = 0o644;
    expect(normalizeTree({ tree, sourceDateEpoch: EPOCH })).toEqual({ clamped: 2, symlinkModes: 1 });
    expect(tree.get('etc')!.inode.mtime).toEqual({ sec: EPOCH, nsec: 0 });
    expect(tree.get('etc/passwd')!.inode.mtime).toEqual({ sec: EPOCH, nsec: 0 });
    expect(tree.get('usr')!.inode.mtime).toEqual({ sec: EPOCH - 1, nsec: 999 });
    expect(tree.get('lib')!.inode.mode).toBe(0o777);
  });
});

describe('compileGlob', () => {
  it('matches names at any depth, anchored paths and ** segments', () => {
    const md = compileGlob('*.md');
    expect([md('a.md'), md('x/y/a.md'), md('a.mdx')]).toEqual([true, true, false]);
    const anchored = compileGlob('/conf.d/*.conf');
    expect([anchored('conf.d/a.conf'), anchored('x/conf.d/a.conf')]).toEqual([true, false]);
    const deep = compileGlob('a/**/z');
    expect([deep('a/z'), deep('a/b/c/z'), deep('b/a/z')]).toEqual([true, true, false]);
    const cls = compileGlob('file[0-9]?');
    expect([cls('file1a'), cls('filex1')]).toEqual([true, false]);
  });
});
