import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { sharedWorkerHasher, WorkerHasher } from './hash-worker.js';

const hex = (algorithm: string, ...parts: Uint8Array[]): string => {
  const h = createHash(algorithm);
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

describe('WorkerHasher', () => {
  const hasher = new WorkerHasher();
  afterAll(() => hasher.close());

  it('hashes transferred bytes, zeros and file ranges in order, with several algorithms at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-hash-'));
    try {
      const a = randomBytes(70_000);
      const fileBytes = randomBytes(3_000_000);
      await writeFile(join(dir, 'f'), fileBytes);
      const handle = await open(join(dir, 'f'), 'r');
      try {
        const s = hasher.session(['sha256', 'sha1']);
        await s.update(new Uint8Array(a)); // a copy: the original stays usable
        s.updateZeros(2_500_000);
        s.updateFromFile(handle.fd, 123, 2_000_000);
        s.updateZeros(0);
        const zeros = Buffer.alloc(2_500_000);
        const part = fileBytes.subarray(123, 2_000_123);
        expect(await s.digests()).toEqual([hex('sha256', a, zeros, part), hex('sha1', a, zeros, part)]);
      } finally {
        await handle.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports a range past the end of the file as HASH_READ', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'drover-hash-'));
    try {
      await writeFile(join(dir, 'f'), Buffer.alloc(100, 1));
      const handle = await open(join(dir, 'f'), 'r');
      try {
        const s = hasher.session('sha256');
        s.updateFromFile(handle.fd, 0, 200);
        await expect(s.digest()).rejects.toMatchObject({ code: 'HASH_READ', kind: 'io' });
      } finally {
        await handle.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a cancelled session resolves and leaves the worker usable', async () => {
    const s = hasher.session('sha256');
    await s.update(new Uint8Array(10));
    await s.cancel();
    const t = hasher.session('sha512');
    await t.update(new Uint8Array([1, 2, 3]));
    expect(await t.digest()).toBe(hex('sha512', Buffer.from([1, 2, 3])));
  });

  it('batch: many streams interleaved across 1 MiB batches equal node:crypto (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat({ max: 7 }), fc.integer({ min: 0, max: 400_000 })), { maxLength: 40 }),
        async (ops) => {
          const batch = hasher.batch(['sha256', 'sha1']);
          const expected = new Map<number, Buffer[]>();
          let seed = 1;
          for (const [key, length] of ops) {
            const data = Buffer.alloc(length, seed++ & 0xff);
            if (!expected.has(key)) expected.set(key, []);
            expected.get(key)!.push(data);
            await batch.add(key, data);
          }
          for (const key of expected.keys()) batch.end(key);
          batch.end(99); // never added to: the empty stream
          const got = await batch.finish();
          expect(got.get(99)).toEqual([hex('sha256'), hex('sha1')]);
          for (const [key, parts] of expected) {
            expect(got.get(key)).toEqual([hex('sha256', ...parts), hex('sha1', ...parts)]);
          }
          expect(got.size).toBe(expected.size + 1);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('a cancelled batch leaves the worker usable; nothing stays queued', async () => {
    const batch = hasher.batch(['sha256']);
    await batch.add(1, new Uint8Array(3 << 20));
    await batch.cancel();
    await batch.cancel(); // twice is fine
    const s = hasher.session('sha256');
    s.updateZeros(1);
    expect(await s.digest()).toBe(hex('sha256', Buffer.alloc(1)));
    expect(hasher.inFlight).toBe(0);
    expect(hasher.healthy).toBe(true);
  });

  it('a stopped worker rejects every later call instead of hanging', async () => {
    const gone = new WorkerHasher();
    const pending = gone.session('sha256');
    await gone.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(gone.healthy).toBe(false);
    await expect(pending.digest()).rejects.toThrow(/exited/);
    await expect(gone.session('sha256').update(new Uint8Array(1))).rejects.toThrow(/exited/);
    await expect(gone.batch(['sha1']).finish()).rejects.toThrow(/exited/);
    await gone.session('sha256').cancel(); // resolves
  });

  it('tap passes bytes through unchanged and hashes them', async () => {
    const { stream, digest } = hasher.tap('sha256');
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const data = randomBytes(1_000_000);
    stream.end(data);
    await new Promise((resolve) => stream.on('end', resolve));
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(await digest()).toBe(hex('sha256', data));
  });
});

describe('sharedWorkerHasher', () => {
  it('hands out working hashers from a small pool', async () => {
    const seen = new Set<WorkerHasher>();
    for (let i = 0; i < 10; i++) seen.add(sharedWorkerHasher());
    expect(seen.size).toBeGreaterThanOrEqual(1);
    expect(seen.size).toBeLessThanOrEqual(4);
    const s = sharedWorkerHasher().session('sha256');
    s.updateZeros(5);
    expect(await s.digest()).toBe(hex('sha256', Buffer.alloc(5)));
  });

  it('an idle pool does not keep the process alive, and a pending digest does', async () => {
    // A child process imports the module from source through the repo's tsx loader.
    const script = [
      `import { sharedWorkerHasher } from ${JSON.stringify(new URL('./hash-worker.ts', import.meta.url).pathname)};`,
      'const s = sharedWorkerHasher().session("sha256");',
      's.updateZeros(64 << 20);',
      'const d = await s.digest();',
      'console.log(d);',
    ].join('\n');
    // a file, not `-e`: with --input-type=module the eval'd worker source would be parsed as ESM too
    const dir = await mkdtemp(join(tmpdir(), 'drover-hash-'));
    try {
      await writeFile(join(dir, 'main.mjs'), script);
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', join(dir, 'main.mjs')],
        {
          timeout: 30_000,
        },
      );
      expect(stdout.trim()).toBe(hex('sha256', Buffer.alloc(64 << 20)));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
