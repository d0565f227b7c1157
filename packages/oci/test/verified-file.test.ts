import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DigestString } from '@drover/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openVerifiedFile } from '../src/index.js';

const sha = (data: Uint8Array): DigestString => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('openVerifiedFile (hashed on this thread below 1 MiB, on a worker above)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-verified-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  for (const size of [0, 1000, (1 << 20) - 1, 1 << 20, 5_000_123]) {
    it(`streams a ${size}-byte file whose digest matches, and rejects one changed byte`, async () => {
      const data = randomBytes(size);
      const path = join(dir, `f${size}`);
      await writeFile(path, data);
      const digest = sha(data);
      expect((await readAll(openVerifiedFile(path, digest, { size, what: 'f' }))).equals(data)).toBe(true);
      if (size === 0) return;
      const bad = Buffer.from(data);
      bad[Math.floor(size / 2)]! ^= 1;
      await writeFile(path, bad);
      await expect(readAll(openVerifiedFile(path, digest, { what: 'f' }))).rejects.toMatchObject({
        code: 'DIGEST_MISMATCH',
        kind: 'integrity',
      });
    });
  }

  it('does not hash an unchanged, already verified file again, but one changed in place is caught', async () => {
    const data = randomBytes(3 << 20);
    const path = join(dir, 'again');
    await writeFile(path, data);
    const digest = sha(data);
    await readAll(openVerifiedFile(path, digest, { what: 'again' }));
    // a wrong expected digest is still rejected: the trust is per (file identity, digest)
    await expect(
      readAll(openVerifiedFile(path, sha(Buffer.alloc(1)), { what: 'again' })),
    ).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
    });
    expect((await readAll(openVerifiedFile(path, digest, { what: 'again' }))).equals(data)).toBe(true);
    const handle = await open(path, 'r+');
    await handle.write(Buffer.from([data[100]! ^ 0xff]), 0, 1, 100); // same size, new bytes
    await handle.close();
    await expect(readAll(openVerifiedFile(path, digest, { what: 'again' }))).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
    });
  });

  it('a byte range of a missing blob is BLOB_NOT_FOUND', async () => {
    const { BlobStore } = await import('../src/blob-store.js');
    const store = new BlobStore(join(dir, 'store'));
    await expect(readAll(store.open(sha(Buffer.from('x')), { start: 0, end: 0 }))).rejects.toMatchObject({
      code: 'BLOB_NOT_FOUND',
    });
    await expect(readAll(store.open(sha(Buffer.from('x'))))).rejects.toMatchObject({
      code: 'BLOB_NOT_FOUND',
    });
  });

  it('checks the size before reading, and names a missing file', async () => {
    const path = join(dir, 'sized');
    await writeFile(path, Buffer.alloc(10));
    await expect(
      readAll(openVerifiedFile(path, sha(Buffer.alloc(10)), { size: 11, what: 'x' })),
    ).rejects.toMatchObject({ code: 'SIZE_MISMATCH' });
    await expect(
      readAll(
        openVerifiedFile(join(dir, 'nope'), sha(Buffer.alloc(0)), {
          what: 'x',
          notFound: () => Object.assign(new Error('gone'), { code: 'GONE' }) as never,
        }),
      ),
    ).rejects.toMatchObject({ code: 'GONE' });
  });

  it('can be dropped halfway without hanging, and the next read still verifies', async () => {
    const data = randomBytes(8 << 20);
    const path = join(dir, 'big');
    await writeFile(path, data);
    const stream = openVerifiedFile(path, sha(data), { what: 'big' });
    for await (const _chunk of stream) break; // destroys the stream after the first chunk
    expect(stream.destroyed).toBe(true);
    expect((await readAll(openVerifiedFile(path, sha(data), { what: 'big' }))).length).toBe(data.length);
  });
});
