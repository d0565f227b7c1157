import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertDigest,
  digestBytes,
  digestFile,
  digestStream,
  formatDigest,
  isDigest,
  parseDigest,
} from './digest.js';
import { isDroverError } from './error.js';
import type { ProgressEvent } from './progress.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-digest-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('digest strings', () => {
  it('round-trips every well-formed sha256 and sha512 digest', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('sha256' as const, 'sha512' as const),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        (alg, bytes) => {
          const hex = Buffer.from(bytes)
            .toString('hex')
            .slice(0, alg === 'sha256' ? 64 : 128);
          const s = `${alg}:${hex}`;
          expect(formatDigest(parseDigest(s))).toBe(s);
          expect(isDigest(s)).toBe(true);
        },
      ),
    );
  });

  it('rejects anything else with DIGEST_INVALID and a hint', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        fc.pre(!/^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/.test(s));
        try {
          parseDigest(s);
          return false;
        } catch (error) {
          return (
            isDroverError(error, 'DIGEST_INVALID') && typeof (error as { hint?: string }).hint === 'string'
          );
        }
      }),
    );
    expect(isDigest(`sha256:${'A'.repeat(64)}`)).toBe(false);
    expect(isDigest(`md5:${'a'.repeat(32)}`)).toBe(false);
  });

  it('digestBytes matches node:crypto', () => {
    expect(digestBytes('abc')).toBe(`sha256:${createHash('sha256').update('abc').digest('hex')}`);
    expect(digestBytes(new Uint8Array([1, 2]), 'sha512')).toMatch(/^sha512:[0-9a-f]{128}$/);
  });

  it('assertDigest throws DIGEST_MISMATCH of kind integrity', () => {
    const a = digestBytes('a');
    const b = digestBytes('b');
    expect(() => assertDigest(a, a, 'blob')).not.toThrow();
    try {
      assertDigest(a, b, 'blob');
      expect.unreachable();
    } catch (error) {
      expect(isDroverError(error, 'DIGEST_MISMATCH')).toBe(true);
      expect(error).toMatchObject({ kind: 'integrity', details: { expected: a, actual: b } });
    }
  });
});

describe('streaming digests', () => {
  it('digestFile agrees with sha256sum and reports byte progress', async () => {
    const file = join(dir, 'data.bin');
    await writeFile(file, randomBytes(3 * 1024 * 1024 + 17));
    const events: ProgressEvent[] = [];
    const result = await digestFile(file, {}, { onProgress: (e) => events.push(e) });
    const expected = execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0];
    expect(result).toEqual({ digest: `sha256:${expected}`, size: 3 * 1024 * 1024 + 17 });
    expect(events[0]).toMatchObject({ type: 'start', unit: 'bytes', total: result.size });
    expect(events.at(-1)).toEqual({ type: 'done', task: `digest:${file}`, completed: result.size, ok: true });
    // Streamed in chunks (at most 1 MiB each), never read whole.
    expect(events.filter((e) => e.type === 'advance').length).toBeGreaterThanOrEqual(4);
  });

  it('digestFile of a missing file is FILE_NOT_FOUND', async () => {
    await expect(digestFile(join(dir, 'missing'))).rejects.toMatchObject({
      code: 'FILE_NOT_FOUND',
      kind: 'not-found',
    });
  });

  it('digestStream hashes any stream, with sha512 too', async () => {
    const chunks = [Buffer.from('hello '), Buffer.from('world')];
    const r = await digestStream(Readable.from(chunks), { algorithm: 'sha512' });
    expect(r).toEqual({ digest: digestBytes('hello world', 'sha512'), size: 11 });
  });

  it('stops with ABORTED when the signal fires mid-stream', async () => {
    const controller = new AbortController();
    let produced = 0;
    const endless = new Readable({
      read() {
        produced++;
        if (produced === 5) controller.abort();
        this.push(Buffer.alloc(64 * 1024));
      },
    });
    await expect(digestStream(endless, {}, { signal: controller.signal })).rejects.toMatchObject({
      code: 'ABORTED',
    });
    expect(produced).toBeLessThan(50);
  });
});
