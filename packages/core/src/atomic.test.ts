import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporaryPathFor, writeAtomically } from './atomic.js';
import { DroverError } from './error.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-atomic-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeAtomically', () => {
  it('renames the finished temporary file onto the final name', async () => {
    const out = join(dir, 'root.hash');
    const result = await writeAtomically(out, async (tmp) => {
      expect(tmp).not.toBe(out);
      expect(tmp.startsWith(join(dir, '.root.hash.'))).toBe(true);
      await writeFile(tmp, 'tree');
      return 42;
    });
    expect(result).toBe(42);
    expect(await readFile(out, 'utf8')).toBe('tree');
    expect(await readdir(dir)).toEqual(['root.hash']);
  });

  it('leaves an existing output untouched and no temporary file when writing fails', async () => {
    const out = join(dir, 'image.raw');
    await writeFile(out, 'old');
    await expect(
      writeAtomically(out, async (tmp) => {
        await writeFile(tmp, 'half');
        throw new DroverError('WRITE_FAILED', 'disk full');
      }),
    ).rejects.toMatchObject({ code: 'WRITE_FAILED' });
    expect(await readFile(out, 'utf8')).toBe('old');
    expect((await readdir(dir)).filter((n) => n.includes('image.raw'))).toEqual(['image.raw']);
  });

  it('reports a writer that produced nothing as a file error', async () => {
    await expect(writeAtomically(join(dir, 'nothing'), async () => undefined)).rejects.toMatchObject({
      code: 'FILE_NOT_FOUND',
    });
  });

  it('temporary names are unique siblings', () => {
    const a = temporaryPathFor('/x/y/out.img');
    const b = temporaryPathFor('/x/y/out.img');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^\/x\/y\/\.out\.img\.[0-9a-f]{12}\.partial$/);
  });
});
