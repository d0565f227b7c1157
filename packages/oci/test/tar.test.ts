import { createReadStream } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decompress,
  decompressChunks,
  readTar,
  type TarEntry,
  type TarWriteEntry,
  writeTar,
} from '../src/index.js';
import { run, tarBytes, tempDir } from './helpers.js';

async function entries(
  source: AsyncIterable<Uint8Array>,
): Promise<Array<Omit<TarEntry, 'body'> & { data: string }>> {
  const out = [];
  for await (const e of readTar(source)) {
    const parts: Buffer[] = [];
    for await (const c of e.body()) parts.push(c);
    const { body: _b, ...rest } = e;
    out.push({ ...rest, data: Buffer.concat(parts).toString('utf8') });
  }
  return out;
}

describe('readTar against GNU tar', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const long = `${'p'.repeat(90)}/${'q'.repeat(40)}/file-with-a-long-name.txt`;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    const src = join(dir, 'src');
    await mkdir(join(src, 'p'.repeat(90), 'q'.repeat(40)), { recursive: true });
    await writeFile(join(src, long), 'long');
    await writeFile(join(src, 'plain.txt'), 'plain\n');
    await symlink('plain.txt', join(src, 'sym'));
    await writeFile(join(src, 'big.bin'), Buffer.alloc(70_000, 7));
  });
  afterAll(() => cleanup());

  for (const format of ['ustar', 'gnu', 'pax', 'oldgnu'] as const) {
    it(`reads --format=${format} with names, sizes, link targets and contents`, async () => {
      const file = join(dir, `${format}.tar`);
      await run('tar', ['-C', join(dir, 'src'), `--format=${format}`, '--sort=name', '-cf', file, '.']);
      const got = await entries(createReadStream(file));
      const { stdout } = await run('tar', ['-tf', file]);
      expect(got.map((e) => e.path)).toEqual(stdout.trim().split('\n'));
      const byPath = new Map(got.map((e) => [e.path.replace(/^\.\//, ''), e]));
      expect(byPath.get(long)).toMatchObject({ type: 'file', size: 4, data: 'long' });
      expect(byPath.get('sym')).toMatchObject({ type: 'symlink', linkname: 'plain.txt' });
      expect(byPath.get('big.bin')?.data.length).toBe(70_000);
      expect(byPath.get('plain.txt')?.dataOffset).toBeGreaterThan(byPath.get('plain.txt')!.headerOffset);
    });
  }

  it('reads what GNU tar says about our PAX and GNU output (xattrs, nanoseconds, devices)', async () => {
    const list: TarWriteEntry[] = [
      { path: 'dev/null', type: 'char', mode: 0o666, devMajor: 1, devMinor: 3 },
      { path: 'dev/sda', type: 'block', mode: 0o660, devMajor: 8, devMinor: 0 },
      { path: 'fifo', type: 'fifo', mode: 0o600 },
      {
        path: 'cap',
        type: 'file',
        content: 'c',
        mtime: { sec: 1_700_000_000, nsec: 123_456_789 },
        xattrs: { 'security.capability': new Uint8Array([1, 0, 0, 2, 0x20, 0, 0, 0]), 'user.x': 'y' },
      },
      { path: `${'n'.repeat(200)}`, type: 'file', content: 'n' },
    ];
    for (const format of ['pax', 'gnu'] as const) {
      const items = format === 'gnu' ? list.map(({ xattrs: _x, ...e }) => e) : list;
      const bytes = await tarBytes(items, format);
      const file = join(dir, `ours-${format}.tar`);
      await writeFile(file, bytes);
      const { stdout } = await run('tar', ['-tvf', file, '--numeric-owner']);
      expect(stdout).toContain('1,3');
      expect(stdout).toContain('n'.repeat(200));
      const got = await entries(Readable.from([bytes]));
      expect(got.map((e) => e.path)).toEqual(items.map((e) => e.path));
      expect(got[0]).toMatchObject({ type: 'char', devMajor: 1, devMinor: 3 });
      if (format === 'pax') {
        expect(got[3]!.mtime).toEqual({ sec: 1_700_000_000, nsec: 123_456_789 });
        expect([...(got[3]?.xattrs.get('security.capability') ?? [])]).toEqual([1, 0, 0, 2, 0x20, 0, 0, 0]);
      }
    }
  });

  it('decompresses gzip and zstd (made by the zstd CLI) layers by their magic', async () => {
    const bytes = await tarBytes([{ path: 'z.txt', type: 'file', content: 'zstd content' }]);
    await writeFile(join(dir, 'l.tar'), bytes);
    await run('zstd', ['-q', '-f', join(dir, 'l.tar'), '-o', join(dir, 'l.tar.zst')]);
    await run('gzip', ['-k', '-f', join(dir, 'l.tar')]);
    for (const name of ['l.tar', 'l.tar.zst', 'l.tar.gz']) {
      const got = await entries(decompress(createReadStream(join(dir, name))));
      expect(got.map((e) => [e.path, e.data])).toEqual([['z.txt', 'zstd content']]);
    }
    const corrupt = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4, 5, 6]);
    await expect(entries(decompress(Readable.from([corrupt])))).rejects.toMatchObject({
      code: 'OCI_LAYER_DECOMPRESS',
    });
    // decompressChunks: the same by magic, even when the magic arrives a byte at a time, counting input bytes
    for (const name of ['l.tar', 'l.tar.zst', 'l.tar.gz']) {
      const raw = await readFile(join(dir, name));
      let counted = 0;
      const oneByteChunks = Readable.from(
        [...raw].map((b) => Buffer.from([b])),
        { objectMode: false },
      );
      const got = await entries(
        decompressChunks(oneByteChunks, (n) => {
          counted += n;
        }),
      );
      expect(got.map((e) => [e.path, e.data])).toEqual([['z.txt', 'zstd content']]);
      expect(counted).toBe(raw.length);
    }
    await expect(entries(decompressChunks(Readable.from([corrupt])))).rejects.toMatchObject({
      code: 'OCI_LAYER_DECOMPRESS',
    });
    expect(await entries(decompressChunks(Readable.from([])))).toEqual([]);
    // inputs shorter than the magic come through as they are
    const short: Buffer[] = [];
    for await (const c of decompressChunks(Readable.from([Buffer.from('ab')]))) short.push(c);
    expect(Buffer.concat(short).toString()).toBe('ab');
    // returned before it was read: the source is released anyway
    const unread = Readable.from([Buffer.from('data')]);
    await decompressChunks(unread).return?.(undefined);
    expect(unread.destroyed).toBe(true);
  });
});

describe('tar writer and reader round-trip (property)', () => {
  const segment = fc.stringMatching(/^[a-zA-Z0-9_.é-]{1,40}$/).filter((s) => s !== '.' && s !== '..');
  const entryArb = fc.record({
    path: fc.array(segment, { minLength: 1, maxLength: 6 }).map((p) => p.join('/')),
    content: fc.uint8Array({ maxLength: 1500 }),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: fc.integer({ min: 0, max: 2 ** 31 }),
    sec: fc.integer({ min: 0, max: 2 ** 33 }),
    nsec: fc.integer({ min: 0, max: 999_999_999 }),
    xattr: fc.option(fc.uint8Array({ minLength: 1, maxLength: 40 }), { nil: undefined }),
  });
  it('every field survives, in chunks of any size', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(entryArb, { maxLength: 8 }),
        fc.integer({ min: 1, max: 2000 }),
        async (list, chunk) => {
          const input: TarWriteEntry[] = list.map((e) => ({
            path: e.path,
            type: 'file',
            content: e.content,
            mode: e.mode,
            uid: e.uid,
            gid: e.uid,
            mtime: { sec: e.sec, nsec: e.nsec },
            ...(e.xattr ? { xattrs: { 'security.selinux': e.xattr } } : {}),
          }));
          const parts: Buffer[] = [];
          for await (const c of writeTar(input)) parts.push(c);
          const all = Buffer.concat(parts);
          const chunks: Buffer[] = [];
          for (let i = 0; i < all.length; i += chunk) chunks.push(all.subarray(i, i + chunk));
          const out: Array<{
            path: string;
            content: Uint8Array;
            mode: number;
            uid: number;
            mtime: unknown;
            x?: number[];
          }> = [];
          for await (const e of readTar(Readable.from(chunks))) {
            const data: Buffer[] = [];
            for await (const c of e.body()) data.push(c);
            const content = Buffer.concat(data);
            expect(all.subarray(e.dataOffset, e.dataOffset + e.size).equals(content)).toBe(true);
            const x = e.xattrs.get('security.selinux');
            out.push({
              path: e.path,
              content: new Uint8Array(content),
              mode: e.mode,
              uid: e.uid,
              mtime: e.mtime,
              ...(x ? { x: [...x] } : {}),
            });
          }
          expect(out).toEqual(
            list.map((e) => ({
              path: e.path,
              content: e.content,
              mode: e.mode,
              uid: e.uid,
              mtime: { sec: e.sec, nsec: e.nsec },
              ...(e.xattr ? { x: [...e.xattr] } : {}),
            })),
          );
        },
      ),
      { numRuns: 100 },
    );
  });
});
