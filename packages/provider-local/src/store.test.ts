import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, digestFile, type ImageRef, isDroverError } from '@drover/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestImage } from './fixture.js';
import { digestOfRef, LocalStore } from './store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-store-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (error) {
    if (isDroverError(error)) return error.code;
    throw error;
  }
  return 'no error';
};

describe('LocalStore', () => {
  it('publishes idempotently: the same record gives the same ref, key order does not matter', async () => {
    const store = await LocalStore.open({ dir: join(dir, 'store') });
    const img = await createTestImage({ dir: join(dir, 'img'), version: '1.0.0' });
    const a = await store.publish(img.record, img.artifacts);
    const reordered = JSON.parse(canonicalJson(img.record)) as typeof img.record;
    const shuffled = Object.fromEntries(Object.entries(reordered).reverse()) as typeof img.record;
    const b = await store.publish(shuffled, img.artifacts);
    expect(b).toEqual(a);
    expect(a.uri).toBe(`local:${a.digest}`);
    expect(a.version).toBe('1.0.0');
    expect(await store.list()).toEqual([a]);
    expect(await store.record(a)).toEqual(JSON.parse(canonicalJson(img.record)));
    // One record blob plus two artifacts, nothing duplicated.
    expect(
      (await readdir(join(store.dir, 'blobs', 'sha256'))).filter((f) => !f.startsWith('.')),
    ).toHaveLength(3);
  });

  it('refuses an artifact whose bytes do not match the record, and keeps nothing of it', async () => {
    const store = await LocalStore.open({ dir: join(dir, 'store') });
    const img = await createTestImage({ dir: join(dir, 'img'), version: '1.0.0' });
    const root = img.artifacts[0]!;
    const bytes = await readFile(root.file);
    bytes[100] = (bytes[100] ?? 0) ^ 1;
    await writeFile(root.file, bytes);
    expect(await codeOf(store.publish(img.record, img.artifacts))).toBe('DIGEST_MISMATCH');
    await expect(store.verifyBlob(root.digest)).rejects.toMatchObject({ code: 'STORE_BLOB_MISSING' });
    expect(await store.list()).toEqual([]);
  });

  it('detects a tampered blob on the way out and replaces it on republish', async () => {
    const store = await LocalStore.open({ dir: join(dir, 'store') });
    const img = await createTestImage({ dir: join(dir, 'img'), version: '1.0.0' });
    const ref = await store.publish(img.record, img.artifacts);
    const root = img.artifacts[0]!;
    const blob = store.blobPath(root.digest);
    const bytes = await readFile(blob);
    bytes[7] = (bytes[7] ?? 0) ^ 0x80;
    await writeFile(blob, bytes);
    await expect(store.verifyBlob(root.digest)).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      kind: 'integrity',
    });
    // Streaming out fails at the end.
    const chunks: Buffer[] = [];
    await expect(
      (async () => {
        for await (const c of store.openBlob(root.digest)) chunks.push(c as Buffer);
      })(),
    ).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    // Republishing repairs the damaged copy from the good file.
    expect(await store.publish(img.record, img.artifacts)).toEqual(ref);
    expect(await store.verifyBlob(root.digest)).toBe(root.size);
  });

  it('detects a tampered record blob', async () => {
    const store = await LocalStore.open({ dir: join(dir, 'store') });
    const img = await createTestImage({ dir: join(dir, 'img'), version: '1.0.0' });
    const ref = await store.publish(img.record, img.artifacts);
    const blob = store.blobPath(ref.digest);
    await writeFile(blob, (await readFile(blob, 'utf8')).replace('1.0.0', '6.6.6'));
    expect(await codeOf(store.record(ref))).toBe('DIGEST_MISMATCH');
  });

  it('requires every artifact of the record', async () => {
    const store = await LocalStore.open({ dir: join(dir, 'store') });
    const img = await createTestImage({ dir: join(dir, 'img'), version: '1.0.0' });
    expect(await codeOf(store.publish(img.record, img.artifacts.slice(0, 1)))).toBe('STORE_ARTIFACT_MISSING');
    const wrong = { ...img.artifacts[1]!, name: 'root', digest: img.artifacts[1]!.digest };
    expect(await codeOf(store.publish(img.record, [wrong]))).toBe('STORE_ARTIFACT_MISMATCH');
  });

  it('promotes, resolves and lists channels; retire refuses images in use and frees blobs', async () => {
    const store = await LocalStore.open({ dir: join(dir, 'store') });
    const v1 = await createTestImage({ dir: join(dir, 'v1'), version: '1.0.0' });
    const v2 = await createTestImage({ dir: join(dir, 'v2'), version: '2.0.0' });
    const r1 = await store.publish(v1.record, v1.artifacts);
    const r2 = await store.publish(v2.record, v2.artifacts);
    expect(await store.resolve('stable')).toBeUndefined();
    await store.promote('stable', r1);
    await store.promote('canary', r2);
    expect(await store.resolve('stable')).toEqual(r1);
    await store.promote('stable', r2);
    const stable = await store.channel('stable');
    expect(stable?.ref).toEqual(r2);
    expect(stable?.previous).toEqual(r1);
    expect((await store.channels()).map((c) => c.channel)).toEqual(['canary', 'stable']);
    expect(await codeOf(store.promote('Bad Name', r1))).toBe('STORE_BAD_CHANNEL');
    expect(await codeOf(store.promote('stable', { uri: 'x', digest: `sha256:${'0'.repeat(64)}` }))).toBe(
      'STORE_IMAGE_NOT_FOUND',
    );
    expect(await codeOf(store.retire(r2))).toBe('STORE_IMAGE_IN_USE');
    await store.retire(r1);
    expect(await store.list()).toEqual([r2]);
    await expect(store.verifyBlob(v1.record.artifacts[0]!.digest)).rejects.toMatchObject({
      code: 'STORE_BLOB_MISSING',
    });
    expect(await store.verifyBlob(v2.record.artifacts[0]!.digest)).toBe(v2.record.artifacts[0]!.size);
    expect(digestOfRef(r2.uri)).toBe(r2.digest);
    expect(() => digestOfRef('local:nope')).toThrow(/not an image reference/);
  });

  it('promotes atomically: concurrent promotions and readers only ever see a whole pointer', async () => {
    const store = await LocalStore.open({ dir: join(dir, 'store') });
    const refs: ImageRef[] = [];
    for (const v of ['1.0.0', '2.0.0', '3.0.0']) {
      const img = await createTestImage({ dir: join(dir, v), version: v });
      refs.push(await store.publish(img.record, img.artifacts));
    }
    await store.promote('stable', refs[0]!);
    const seen = new Set<string>();
    let stop = false;
    const reader = (async () => {
      while (!stop) {
        const ref = await store.resolve('stable');
        expect(ref).toBeDefined();
        seen.add(ref!.digest);
      }
    })();
    await Promise.all(Array.from({ length: 30 }, (_, i) => store.promote('stable', refs[i % refs.length]!)));
    stop = true;
    await reader;
    const digests = new Set<string>(refs.map((r) => r.digest));
    for (const d of seen) expect(digests.has(d)).toBe(true);
    expect(digests.has((await store.resolve('stable'))!.digest)).toBe(true);
    // No temporary files left behind.
    expect((await readdir(join(store.dir, 'channels'))).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('attaches signatures over the record file as it was signed, and drops them when the image is retired', async () => {
    const store = await LocalStore.open({ dir: join(dir, 'store') });
    const img = await createTestImage({ dir: join(dir, 'img'), version: '1.0.0' });
    const ref = await store.publish(img.record, img.artifacts);
    expect(await store.signatures(ref)).toEqual([]);
    const file = join(dir, 'img', 'image.json');
    // Pretty-printed, as `drover build` writes it: not the canonical bytes, but the same record.
    await writeFile(file, `${JSON.stringify(img.record, null, 2)}\n`);
    const bundle = { mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', fake: true };
    const sig = await store.attachSignature(ref, { signedRecord: file, bundle });
    expect(await readFile(sig.signedRecordPath, 'utf8')).toBe(await readFile(file, 'utf8'));
    // Idempotent: the same bundle is stored once.
    await store.attachSignature(ref.uri, { signedRecord: file, bundle });
    const listed = await store.signatures(ref);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ record: ref.digest, signedRecord: sig.signedRecord, bundle });

    // Another record's file is refused.
    const other = await createTestImage({ dir: join(dir, 'other'), version: '2.0.0' });
    await writeFile(join(dir, 'other.json'), JSON.stringify(other.record));
    expect(await codeOf(store.attachSignature(ref, { signedRecord: join(dir, 'other.json'), bundle }))).toBe(
      'STORE_SIGNATURE_MISMATCH',
    );
    expect(
      await codeOf(store.attachSignature(ref, { signedRecord: join(dir, 'img', 'root.img'), bundle })),
    ).toBe('STORE_SIGNATURE_MISMATCH');

    await store.retire(ref);
    expect(await store.signatures(ref)).toEqual([]);
    expect(await readdir(join(store.dir, 'blobs', 'sha256'))).toEqual([]);
  });

  it('stores runs of zeros as holes (a sparse disk artifact stays sparse) with the same bytes and digest', async () => {
    const store = await LocalStore.open({ dir: join(dir, 'store') });
    const img = await createTestImage({ dir: join(dir, 'img'), version: '1.0.0' });
    const disk = join(dir, 'img', 'disk.img');
    const bytes = Buffer.alloc(8 << 20);
    bytes.write('head', 0);
    bytes.write('tail', bytes.length - 4);
    await writeFile(disk, bytes);
    const { digest } = await digestFile(disk, { progress: false });
    const artifact = { name: 'disk', path: 'disk.img', digest, size: bytes.length, mediaType: 'x' };
    const ref = await store.publish({ ...img.record, artifacts: [...img.record.artifacts, artifact] }, [
      ...img.artifacts,
      { ...artifact, file: disk },
    ]);
    const info = await stat(store.blobPath(digest));
    expect(info.size).toBe(bytes.length);
    expect(info.blocks * 512).toBeLessThan(4 << 20);
    expect((await readFile(store.blobPath(digest))).equals(bytes)).toBe(true);
    expect(await store.verifyBlob(digest)).toBe(bytes.length);
    expect((await store.record(ref)).artifacts).toHaveLength(3);
  });
});
