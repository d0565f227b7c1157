import { createReadStream } from 'node:fs';
import {
  chmod,
  chown,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { isDroverError, type ProgressEvent } from '@drover/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fsckExtract,
  run,
  scratch,
  snapshotDirectory,
  snapshotTree,
  withMountedErofs,
} from '../../test/helpers.js';
import { featureTree, patternBytes, randomTreeArb } from '../../test/trees.js';
import { erofsChecksum } from '../crc.js';
import {
  BOTTLEROCKET_TYPES,
  type ErofsContentSource,
  type ErofsDirectory,
  type ErofsFile,
  type ErofsNode,
  erofsTreeFromDirectory,
  readErofsSuperblock,
  writeDisk,
  writeErofs,
} from '../index.js';

let dir: string;
beforeAll(async () => {
  dir = await scratch('erofs');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isDroverError(error, code), String(error)).toBe(true);
  expect((error as { hint?: string }).hint).toBeTruthy();
}
/** A file node's bytes as a stream (for tree-level readers in tests). */
function sourceOf(file: ErofsFile): ErofsContentSource {
  const c = file.content!;
  if (c instanceof Uint8Array) return [c.subarray(0, 7), c.subarray(7)];
  return typeof c === 'function' ? (c() as ErofsContentSource) : createReadStream(c.path);
}

/** The full oracle: fsck accepts, the kernel mount equals the tree, fsck --extract equals the tree. */
async function checkImage(tree: ErofsDirectory, image: string): Promise<void> {
  const { stdout, stderr } = await run('fsck.erofs', [image]);
  expect(`${stdout}${stderr}`).not.toMatch(/corrupt|error|fail/i);
  const expected = await snapshotTree(tree, { xattrs: true, nlink: true });
  const mounted = await withMountedErofs(image, (mnt) =>
    snapshotDirectory(mnt, { xattrs: true, nlink: true }),
  );
  expect(mounted).toEqual(expected);
  // fsck.erofs 1.5 --extract restores neither xattrs nor hardlinks, and chown after chmod drops setuid/setgid.
  const out = join(dir, 'extract');
  await fsckExtract(image, out);
  const extracted = await snapshotDirectory(out, { links: false, modeMask: 0o1777 });
  await rm(out, { recursive: true, force: true });
  expect(extracted).toEqual(await snapshotTree(tree, { links: false, modeMask: 0o1777 }));
}

describe('writeErofs', () => {
  it('writes every inode type, xattrs, ACLs, hardlinks, long names and a 1500-entry directory', async () => {
    const image = join(dir, 'feature.img');
    const events: ProgressEvent[] = [];
    const result = await writeErofs(
      { root: featureTree(), output: image, buildTime: { sec: 1_700_000_000 } },
      {
        onProgress: (e) => events.push(e),
      },
    );
    expect(result.size).toBe((await stat(image)).size);
    expect(result.size).toBe(result.blocks * 4096);
    expect(result.filesystem).toEqual({ type: 'erofs', size: result.size, digest: result.digest });
    expect(result.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(result.buildTime).toEqual({ sec: 1_700_000_000, nsec: 0 });
    // 1 root + 19 top-level names - 3 extra hardlink names + 1500 + tmp + deep/a ...: count distinct inodes.
    expect(result.inodes).toBe(1 + 21 + 1500 + 1);
    expect(events[0]).toMatchObject({ type: 'start', unit: 'bytes', total: result.size });
    expect(events.at(-1)).toMatchObject({ type: 'done', ok: true, completed: result.size });
    await checkImage(featureTree(), image);
    // No temporary files left next to the output.
    expect((await readdir(dir)).filter((n) => n.includes('.partial'))).toEqual([]);
  });

  it('writes a superblock with the EROFS magic, a valid CRC32C and the options given', async () => {
    const image = join(dir, 'sb.img');
    const uuid = '01234567-89ab-cdef-0123-456789abcdef';
    const r = await writeErofs({
      root: featureTree(),
      output: image,
      uuid,
      volumeName: 'drover-root',
      buildTime: { sec: 1_700_000_000, nsec: 5 },
    });
    expect(r.uuid).toBe(uuid);
    const head = (await readFile(image)).subarray(0, 4096);
    const sb = head.subarray(1024, 1152);
    expect(sb.readUInt32LE(0)).toBe(0xe0f5e1e2);
    expect(sb[0x0c]).toBe(12);
    expect(sb.readUInt32LE(0x24)).toBe(r.blocks);
    expect(sb.readBigUInt64LE(0x10)).toBe(BigInt(r.inodes));
    expect(sb.readBigUInt64LE(0x18)).toBe(1_700_000_000n);
    expect(sb.readUInt32LE(0x20)).toBe(5);
    expect(sb.subarray(0x30, 0x40).toString('hex')).toBe(uuid.replace(/-/g, ''));
    expect(sb.subarray(0x40, 0x50).toString('latin1').replace(/\0+$/, '')).toBe('drover-root');
    const block = Buffer.from(head.subarray(1024));
    const stored = block.readUInt32LE(4);
    block.writeUInt32LE(0, 4);
    expect(erofsChecksum(block)).toBe(stored);
    // blkid (util-linux) recognises the filesystem and its UUID.
    const { stdout } = await run('blkid', ['-p', '-o', 'export', image]);
    expect(stdout).toContain('TYPE=erofs');
    expect(stdout).toContain(`UUID=${uuid}`);
  });

  it("reads superblocks back: ours, mkfs.erofs's, inside a disk, damaged and missing", async () => {
    const image = join(dir, 'sb-read.img');
    const uuid = '01234567-89ab-cdef-0123-456789abcdef';
    const r = await writeErofs({
      root: featureTree(),
      output: image,
      uuid,
      volumeName: 'vol',
      buildTime: { sec: 7, nsec: 8 },
    });
    expect(await readErofsSuperblock({ path: image })).toEqual({
      blockSize: 4096,
      blocks: r.blocks,
      size: r.size,
      inodes: r.inodes,
      uuid,
      volumeName: 'vol',
      buildTime: { sec: 7, nsec: 8 },
      rootNid: 128,
      featureCompat: 3,
      featureIncompat: 0,
      checksumValid: true,
    });
    const theirs = join(dir, 'sb-mkfs.img');
    const src = join(dir, 'sb-src');
    await mkdir(src);
    await writeFile(join(src, 'f'), 'x');
    await run('mkfs.erofs', ['-U', uuid, '-T', '99', theirs, src]);
    expect(await readErofsSuperblock({ path: theirs })).toMatchObject({
      uuid,
      checksumValid: true,
      buildTime: { sec: 99 },
    });
    // Inside a disk at a partition offset.
    const disk = join(dir, 'sb-disk.img');
    const written = await writeDisk({
      output: disk,
      layout: { partitions: [{ label: 'root', typeGuid: BOTTLEROCKET_TYPES.root, size: 8 * 1024 * 1024 }] },
      contents: { root: image },
    });
    expect(await readErofsSuperblock({ path: disk, offset: written.partitions[0]!.offset })).toMatchObject({
      uuid,
      blocks: r.blocks,
    });
    // A flipped byte in block 0 fails the checksum; no magic is a clear error.
    const handle = await open(image, 'r+');
    await handle.write(Buffer.from([0xff]), 0, 1, 3000);
    await handle.close();
    expect((await readErofsSuperblock({ path: image })).checksumValid).toBe(false);
    await expectCode(readErofsSuperblock({ path: disk }), 'EROFS_NOT_FOUND');
    await expectCode(readErofsSuperblock({ path: join(dir, 'nope.img') }), 'FILE_NOT_FOUND');
  });

  it('is deterministic: the same tree gives the same bytes, whatever the output path', async () => {
    const a = join(dir, 'det-a.img');
    const b = join(dir, 'sub-det', 'b.img');
    await mkdir(join(dir, 'sub-det'), { recursive: true });
    const ra = await writeErofs({ root: featureTree(), output: a });
    const rb = await writeErofs({ root: featureTree(), output: b });
    expect(ra.digest).toBe(rb.digest);
    expect(ra.uuid).toBe(rb.uuid);
    expect(Buffer.compare(await readFile(a), await readFile(b))).toBe(0);
    // A different tree gets a different derived UUID.
    const other = featureTree();
    (other.children as Map<string, ErofsNode>).delete('fifo');
    const rc = await writeErofs({ root: other, output: join(dir, 'det-c.img') });
    expect(rc.uuid).not.toBe(ra.uuid);
  });

  it('gives the same bytes when contents come from a tree-level reader, in any order, even concurrently', async () => {
    const reference = await writeErofs({ root: featureTree(), output: join(dir, 'ref.img') });
    const reversed = await writeErofs({
      root: featureTree(),
      output: join(dir, 'reader.img'),
      readContents: async (files, write) => {
        expect(new Set(files).size).toBe(files.length);
        await Promise.all([...files].reverse().map((f) => write(f, sourceOf(f))));
      },
    });
    expect(reversed.digest).toBe(reference.digest);
    await fc.assert(
      fc.asyncProperty(randomTreeArb, fc.nat(), async (tree, seed) => {
        const a = await writeErofs({ root: tree, output: join(dir, 'p-a.img') });
        const b = await writeErofs({
          root: tree,
          output: join(dir, 'p-b.img'),
          readContents: async (files, write) => {
            // A seeded shuffle, so a failure replays.
            const order = files.map((f, i) => ({ f, k: (Math.imul(i + 1, 2654435761) ^ seed) >>> 0 }));
            order.sort((x, y) => x.k - y.k);
            for (const { f } of order) await write(f, sourceOf(f));
          },
        });
        expect(b.digest).toBe(a.digest);
      }),
      { numRuns: 25 },
    );
  });

  it('checks what a tree-level reader delivers', async () => {
    const out = join(dir, 'reader-bad.img');
    await expectCode(
      writeErofs({ root: featureTree(), output: out, readContents: async () => {} }),
      'EROFS_MISSING_CONTENT',
    );
    await expectCode(
      writeErofs({
        root: featureTree(),
        output: out,
        readContents: async (files, write) => {
          await write(files[0]!, sourceOf(files[0]!));
          await write(files[0]!, sourceOf(files[0]!));
        },
      }),
      'EROFS_CONTENT_TWICE',
    );
    await expectCode(
      writeErofs({
        root: featureTree(),
        output: out,
        readContents: async (files, write) => {
          await write({ ...files[0]! }, sourceOf(files[0]!));
        },
      }),
      'EROFS_CONTENT_UNKNOWN',
    );
    await expect(stat(out)).rejects.toThrow();
  });

  it('round-trips random trees through fsck.erofs, fsck --extract and a kernel mount', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(randomTreeArb, async (tree) => {
        const image = join(dir, `prop-${n++}.img`);
        try {
          await writeErofs({ root: tree, output: image, digest: false });
          await checkImage(tree, image);
        } finally {
          await rm(image, { force: true });
        }
      }),
      { numRuns: 20 },
    );
  }, 240_000);

  it('matches what mkfs.erofs makes of the same directory', async () => {
    const src = join(dir, 'src');
    await mkdir(join(src, 'sub', 'deeper'), { recursive: true });
    await writeFile(join(src, 'a.txt'), 'alpha');
    await writeFile(join(src, 'big.bin'), patternBytes(9, 70_000));
    await writeFile(join(src, 'three-mib.bin'), patternBytes(11, 3 * 1024 * 1024 + 123));
    await writeFile(join(src, 'sub', 'four-k'), patternBytes(10, 4096));
    await link(join(src, 'a.txt'), join(src, 'sub', 'a-hard'));
    await symlink('../a.txt', join(src, 'sub', 'rel-link'));
    await symlink(`/${'z'.repeat(2000)}`, join(src, 'long-link'));
    await run('mkfifo', [join(src, 'pipe')]);
    await run('mknod', [join(src, 'tty0'), 'c', '4', '0']);
    for (let i = 0; i < 400; i++) await writeFile(join(src, 'sub', 'deeper', `n${i}`), String(i));
    await chown(join(src, 'big.bin'), 1234, 80_000);
    await chmod(join(src, 'big.bin'), 0o6711);
    await utimes(join(src, 'a.txt'), 1_600_000_000.25, 1_600_000_000.25);
    const tree = await erofsTreeFromDirectory({ path: src });
    const ours = join(dir, 'ours.img');
    const theirs = join(dir, 'theirs.img');
    await writeErofs({ root: tree, output: ours });
    await run('mkfs.erofs', ['-U', '01234567-89ab-cdef-0123-456789abcdef', theirs, src]);
    const source = await snapshotDirectory(src, { nlink: true });
    const fromOurs = await withMountedErofs(ours, (m) => snapshotDirectory(m, { nlink: true }));
    const fromTheirs = await withMountedErofs(theirs, (m) => snapshotDirectory(m, { nlink: true }));
    // The root's own mtime/mode come from the source directory in both.
    expect(fromOurs).toEqual(fromTheirs);
    expect(fromOurs).toEqual(source);
    // Ours is not larger than mkfs.erofs's by more than a block or two of layout slack.
    expect((await stat(ours)).size).toBeLessThanOrEqual((await stat(theirs)).size + 2 * 4096);
  });

  it('streams contents: a 64 MiB file is written without holding it in memory', async () => {
    const size = 64 * 1024 * 1024 + 123;
    const chunk = Buffer.alloc(1 << 20, 0x5a);
    let opened = 0;
    const tree: ErofsDirectory = {
      type: 'directory',
      mode: 0o755,
      uid: 0,
      gid: 0,
      mtime: { sec: 0 },
      children: new Map<string, ErofsNode>([
        [
          'large',
          {
            type: 'file',
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: { sec: 0 },
            size,
            content: async function* () {
              opened++;
              let left = size;
              while (left > 0) {
                const n = Math.min(left, chunk.length);
                yield chunk.subarray(0, n);
                left -= n;
              }
            },
          },
        ],
      ]),
    };
    const image = join(dir, 'large.img');
    const before = process.memoryUsage().rss;
    const r = await writeErofs({ root: tree, output: image, digest: false });
    expect(opened).toBe(1);
    expect(process.memoryUsage().rss - before).toBeLessThan(48 * 1024 * 1024);
    expect(r.size).toBe((Math.floor(size / 4096) + 2) * 4096);
    await withMountedErofs(image, async (m) => {
      const st = await stat(join(m, 'large'));
      expect(st.size).toBe(size);
      const { stdout } = await run('sha256sum', [join(m, 'large')]);
      const { createHash } = await import('node:crypto');
      const h = createHash('sha256');
      for (let left = size; left > 0; left -= chunk.length)
        h.update(chunk.subarray(0, Math.min(left, chunk.length)));
      expect(stdout.split(' ')[0]).toBe(h.digest('hex'));
    });
    await rm(image);
  });
});

describe('writeErofs errors', () => {
  const file = (size: number, content?: ErofsFile['content']): ErofsDirectory => ({
    type: 'directory',
    mode: 0o755,
    uid: 0,
    gid: 0,
    mtime: { sec: 0 },
    children: new Map<string, ErofsNode>([
      [
        'f',
        {
          type: 'file',
          mode: 0o644,
          uid: 0,
          gid: 0,
          mtime: { sec: 0 },
          size,
          ...(content === undefined ? {} : { content }),
        },
      ],
    ]),
  });

  it('rejects a content stream shorter or longer than the declared size and leaves no output', async () => {
    const out = join(dir, 'short.img');
    await expectCode(
      writeErofs({ root: file(10, () => [Buffer.alloc(5)]), output: out }),
      'EROFS_SIZE_MISMATCH',
    );
    await expectCode(
      writeErofs({ root: file(10, () => [Buffer.alloc(11)]), output: out }),
      'EROFS_SIZE_MISMATCH',
    );
    await expectCode(writeErofs({ root: file(10, Buffer.alloc(3)), output: out }), 'EROFS_SIZE_MISMATCH');
    await expect(stat(out)).rejects.toThrow();
    expect((await readdir(dir)).filter((n) => n.startsWith('.short.img'))).toEqual([]);
  });

  it('rejects bad names, duplicate names, unsupported xattrs and bad nodes', async () => {
    const base = { mode: 0o644, uid: 0, gid: 0, mtime: { sec: 0 } };
    const dirOf = (entries: [string, ErofsNode][]): ErofsDirectory => ({
      type: 'directory',
      ...base,
      children: entries,
    });
    const fifo: ErofsNode = { type: 'fifo', ...base };
    const out = join(dir, 'bad.img');
    await expectCode(writeErofs({ root: dirOf([['a/b', fifo]]), output: out }), 'EROFS_INVALID_NAME');
    await expectCode(writeErofs({ root: dirOf([['..', fifo]]), output: out }), 'EROFS_INVALID_NAME');
    await expectCode(
      writeErofs({ root: dirOf([['x'.repeat(256), fifo]]), output: out }),
      'EROFS_INVALID_NAME',
    );
    await expectCode(
      writeErofs({
        root: dirOf([
          ['a', fifo],
          ['a', fifo],
        ]),
        output: out,
      }),
      'EROFS_DUPLICATE_NAME',
    );
    await expectCode(
      writeErofs({
        root: dirOf([['a', { ...fifo, xattrs: { 'system.foo': Buffer.from('x') } }]]),
        output: out,
      }),
      'EROFS_XATTR_UNSUPPORTED',
    );
    await expectCode(
      writeErofs({ root: dirOf([['a', { ...fifo, mode: 0o10000 }]]), output: out }),
      'EROFS_INVALID_NODE',
    );
    await expectCode(
      writeErofs({ root: dirOf([['a', { ...fifo, mtime: { sec: 0, nsec: 1e9 } }]]), output: out }),
      'EROFS_INVALID_NODE',
    );
    await expectCode(
      writeErofs({
        root: dirOf([['a', { type: 'char', ...base, rdev: { major: 4096, minor: 0 } }]]),
        output: out,
      }),
      'EROFS_INVALID_NODE',
    );
    await expectCode(
      writeErofs({
        root: dirOf([['a', { type: 'symlink', ...base, target: 'x'.repeat(4096) }]]),
        output: out,
      }),
      'EROFS_INVALID_NODE',
    );
    await expectCode(
      writeErofs({ root: dirOf([['a', { type: 'file', ...base, size: 3 }]]), output: out }),
      'EROFS_MISSING_CONTENT',
    );
    const sub = dirOf([]);
    await expectCode(
      writeErofs({
        root: dirOf([
          ['a', sub],
          ['b', sub],
        ]),
        output: out,
      }),
      'EROFS_DIRECTORY_HARDLINK',
    );
    await expectCode(
      writeErofs({
        root: dirOf([
          ['a', { ...fifo, linkId: 1 }],
          ['b', { type: 'socket', ...base, linkId: 1 }],
        ]),
        output: out,
      }),
      'EROFS_HARDLINK_MISMATCH',
    );
    await expectCode(writeErofs({ root: fifo as never, output: out }), 'EROFS_ROOT_NOT_DIRECTORY');
    await expectCode(
      writeErofs({ root: dirOf([]), output: out, volumeName: 'x'.repeat(16) }),
      'EROFS_INVALID_OPTION',
    );
    await expectCode(writeErofs({ root: dirOf([]), output: out, uuid: 'nope' }), 'GPT_INVALID_GUID');
  });

  it('closes contents it opened ahead when writing fails', async () => {
    let destroyed = 0;
    const base = { mode: 0o644, uid: 0, gid: 0, mtime: { sec: 0 } };
    const later = (): ErofsNode => ({
      type: 'file',
      ...base,
      size: 3,
      content: () =>
        Object.assign([Buffer.from('abc')], {
          destroy: () => {
            destroyed++;
          },
        }),
    });
    const root: ErofsDirectory = {
      type: 'directory',
      ...base,
      children: new Map<string, ErofsNode>([
        ['a', { type: 'file', ...base, size: 10, content: () => [Buffer.alloc(5)] }],
        ['b', later()],
        ['c', later()],
      ]),
    };
    await expectCode(writeErofs({ root, output: join(dir, 'dispose.img') }), 'EROFS_SIZE_MISMATCH');
    await new Promise((resolve) => setImmediate(resolve));
    expect(destroyed).toBe(2);
  });

  it('stops when the signal fires and leaves no output', async () => {
    const controller = new AbortController();
    const out = join(dir, 'aborted.img');
    const tree = file(10 * 4096, async function* () {
      yield Buffer.alloc(4096);
      controller.abort();
      for (let i = 0; i < 9; i++) yield Buffer.alloc(4096);
    });
    await expectCode(writeErofs({ root: tree, output: out }, { signal: controller.signal }), 'ABORTED');
    await expect(stat(out)).rejects.toThrow();
  });

  it('erofsTreeFromDirectory refuses a file as the root and reports a missing path', async () => {
    const f = join(dir, 'plain-file');
    await writeFile(f, 'x');
    await expectCode(erofsTreeFromDirectory({ path: f }), 'EROFS_ROOT_NOT_DIRECTORY');
    await expectCode(erofsTreeFromDirectory({ path: join(dir, 'missing') }), 'FILE_NOT_FOUND');
  });

  it('notices host files that changed size or vanished since the tree was described', async () => {
    const src = join(dir, 'changing');
    await mkdir(src);
    await writeFile(join(src, 'f'), 'hello');
    const tree = await erofsTreeFromDirectory({ path: src });
    await writeFile(join(src, 'f'), 'hello, world');
    await expectCode(writeErofs({ root: tree, output: join(dir, 'changing.img') }), 'EROFS_SIZE_MISMATCH');
    await rm(join(src, 'f'));
    await expectCode(writeErofs({ root: tree, output: join(dir, 'changing.img') }), 'FILE_NOT_FOUND');
  });

  it('wraps errors thrown by a content callback', async () => {
    const tree = file(10, () => {
      throw Object.assign(new Error('gone'), { code: 'ENOENT', syscall: 'open', path: '/nope' });
    });
    await expectCode(writeErofs({ root: tree, output: join(dir, 'x.img') }), 'FILE_NOT_FOUND');
  });
});
