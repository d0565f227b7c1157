import { createHash } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type ArtifactSource, type Context, digestFile, type ImageRecord, toDroverError } from '@drover/core';
import { formatVerity } from '@drover/verity';

/** Options of `createTestImage`. */
export interface CreateTestImageOptions {
  /** Directory for the artifacts (created). */
  dir: string;
  name?: string;
  version: string;
  /** Root filesystem size in bytes (a multiple of 4096); default 64 KiB. */
  rootSize?: number;
}

/** A small image made for tests and demos: a record plus its artifact files, ready for `publish`. */
export interface TestImage {
  record: ImageRecord;
  artifacts: ArtifactSource[];
}

/**
 * Make a small verity-protected test image without a build: deterministic pseudo-random root bytes (from
 * name and version), its dm-verity tree (`formatVerity`, zero salt so it is reproducible) and an image record.
 */
export async function createTestImage(
  options: CreateTestImageOptions,
  ctx: Context = {},
): Promise<TestImage> {
  const dir = resolve(options.dir);
  const name = options.name ?? 'test-image';
  const size = options.rootSize ?? 64 * 1024;
  try {
    await mkdir(dir, { recursive: true });
    const chunks: Buffer[] = [];
    let block = createHash('sha256').update(`${name}@${options.version}`).digest();
    for (let n = 0; n < size; n += block.length) {
      chunks.push(block);
      block = createHash('sha256').update(block).digest();
    }
    await writeFile(join(dir, 'root.img'), Buffer.concat(chunks).subarray(0, size));
  } catch (error) {
    throw toDroverError(error, 'writing a test image');
  }
  const rootPath = join(dir, 'root.img');
  const hashPath = join(dir, 'root.hash');
  const verity = await formatVerity(
    {
      dataPath: rootPath,
      hashPath,
      salt: '00'.repeat(32),
      uuid: '00000000-0000-4000-8000-000000000000',
      threads: 0,
    },
    ctx,
  );
  const artifact = async (artifactName: string, file: string, mediaType: string): Promise<ArtifactSource> => {
    const { digest } = await digestFile(file, { progress: false }, ctx);
    return {
      name: artifactName,
      path: file.slice(dir.length + 1),
      file,
      digest,
      size: (await stat(file)).size,
      mediaType,
    };
  };
  const artifacts = [
    await artifact('root', rootPath, 'application/vnd.drover.rootfs'),
    await artifact('root-verity', hashPath, 'application/vnd.drover.verity'),
  ];
  const record: ImageRecord = {
    schemaVersion: 1,
    name,
    version: options.version,
    verity: verity.record,
    artifacts: artifacts.map(({ file: _file, ...a }) => a),
  };
  return { record, artifacts };
}
