import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson } from '@drover/core';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copySparse, defaultCacheDir, placeFile, StepCache, stepKey } from './cache.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-cache-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('stepKey', () => {
  it('does not depend on key order, and changes with any input, the step or its version', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
        const reversed = Object.fromEntries(Object.entries(obj).reverse());
        expect(stepKey('s', 1, obj)).toBe(stepKey('s', 1, reversed));
      }),
    );
    const base = stepKey('filesystem', 1, { a: 1, b: [1, 2] });
    expect(stepKey('filesystem', 2, { a: 1, b: [1, 2] })).not.toBe(base);
    expect(stepKey('verity', 1, { a: 1, b: [1, 2] })).not.toBe(base);
    expect(stepKey('filesystem', 1, { a: 1, b: [2, 1] })).not.toBe(base);
    expect(stepKey('filesystem', 1, { a: '1', b: [1, 2] })).not.toBe(base);
    expect(base).toMatch(/^[0-9a-f]{64}$/);
  });

  it('writes bigints as strings and drops undefined members', () => {
    expect(canonicalJson({ b: 1n << 60n, a: undefined, c: { z: 1, y: 2 } })).toBe(
      '{"b":"1152921504606846976","c":{"y":2,"z":1}}',
    );
  });

  it('defaults to $XDG_CACHE_HOME/drover, else ~/.cache/drover', () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/drover');
    expect(defaultCacheDir({})).toMatch(/\/\.cache\/drover$/);
  });
});

describe('StepCache', () => {
  it('publishes complete entries only, read-only, and serves them back', async () => {
    const cache = new StepCache(dir);
    expect(await cache.get('fs', 'k1')).toBeUndefined();
    const entry = await cache.put('fs', 'k1', async (d) => {
      await writeFile(join(d, 'a.bin'), 'hello');
      return { n: 1 };
    });
    expect(entry.meta).toEqual({ n: 1 });
    expect(((await stat(join(entry.dir, 'a.bin'))).mode & 0o777).toString(8)).toBe('444');
    const hit = await cache.get<{ n: number }>('fs', 'k1');
    expect(hit?.meta).toEqual({ n: 1 });
    expect(await readFile(join(hit!.dir, 'a.bin'), 'utf8')).toBe('hello');
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });

  it('a failed or aborted fill leaves no entry and no temporary files', async () => {
    const cache = new StepCache(dir);
    const controller = new AbortController();
    await expect(
      cache.put(
        'fs',
        'k2',
        async (d) => {
          await writeFile(join(d, 'half.bin'), 'partial');
          controller.abort();
          return {};
        },
        { signal: controller.signal },
      ),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    await expect(
      cache.put('fs', 'k2', async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow(/boom/);
    expect(await cache.get('fs', 'k2')).toBeUndefined();
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });

  it('treats an entry whose files changed size as a miss, and a non-readable cache always misses', async () => {
    const cache = new StepCache(dir);
    const entry = await cache.put('fs', 'k3', async (d) => {
      await writeFile(join(d, 'a.bin'), 'hello');
      return {};
    });
    expect(await new StepCache(dir, { readable: false }).get('fs', 'k3')).toBeUndefined();
    await rm(join(entry.dir, 'a.bin'));
    expect(await cache.get('fs', 'k3')).toBeUndefined();
  });

  it('drops an entry whose file was changed in place through a hard-linked output (same size)', async () => {
    const cache = new StepCache(dir);
    const entry = await cache.put('disk', 'k5', async (d) => {
      await writeFile(join(d, 'disk.img'), 'AAAA');
      return {};
    });
    expect(await cache.get('disk', 'k5')).toBeDefined();
    const output = join(dir, 'out.img');
    const method = await placeFile(join(entry.dir, 'disk.img'), output);
    await new Promise((r) => setTimeout(r, 20));
    await writeFile(output, 'BBBB'); // root ignores the read-only mode, as an in-place GPT edit would
    if (method === 'hardlink') {
      expect(await cache.get('disk', 'k5')).toBeUndefined();
      await expect(stat(entry.dir)).rejects.toMatchObject({ code: 'ENOENT' });
    } else {
      // A reflink or copy is independent of the cache file: the entry stays valid and unchanged.
      expect(await cache.get('disk', 'k5')).toBeDefined();
      expect(await readFile(join(entry.dir, 'disk.img'), 'utf8')).toBe('AAAA');
    }
  });

  it('keeps the first entry when two builds publish the same key', async () => {
    const cache = new StepCache(dir);
    await cache.put('fs', 'k4', async (d) => {
      await writeFile(join(d, 'a'), 'one');
      return { v: 1 };
    });
    await cache.put('fs', 'k4', async (d) => {
      await writeFile(join(d, 'a'), 'one');
      return { v: 1 };
    });
    expect((await cache.get<{ v: number }>('fs', 'k4'))?.meta).toEqual({ v: 1 });
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });
});

describe('placeFile and copySparse', () => {
  it('links a cached file into place without copying, or copies it sparsely', async () => {
    const source = join(dir, 'disk.img');
    await writeFile(source, 'head');
    await truncate(source, 64 << 20);
    const placed = join(dir, 'placed.img');
    const method = await placeFile(source, placed);
    expect(['reflink', 'hardlink']).toContain(method);
    expect((await stat(placed)).size).toBe(64 << 20);
    const copy = join(dir, 'copy.img');
    await copySparse(source, copy);
    const info = await stat(copy);
    expect(info.size).toBe(64 << 20);
    // 64 MiB of holes but one written block: far fewer than 64 MiB of 512-byte blocks are allocated.
    expect(info.blocks * 512).toBeLessThan(2 << 20);
    expect((await readFile(copy)).subarray(0, 4).toString()).toBe('head');
    await expect(copySparse(source, copy)).rejects.toMatchObject({ name: 'DroverError' });
  });
});
