import { type Context, DroverError } from '@drover/core';

/** Options for {@link diffImages}. */
export interface DiffImagesOptions {
  /** Each: a build output directory or its `image.json` (the record lists `files.json` and the SBOM). */
  old: string;
  new: string;
}

/** The reviewer's report (shape owned by the report lane). */
export interface ImageDiff {
  old: { name: string; version: string; rootHash?: string };
  new: { name: string; version: string; rootHash?: string };
  [key: string]: unknown;
}

/** Compare two built images: files, packages, partitions, sizes and root hashes. */
export async function diffImages(_options: DiffImagesOptions, _ctx: Context = {}): Promise<ImageDiff> {
  throw new DroverError('NOT_IMPLEMENTED', 'diffImages is not implemented yet', { kind: 'internal' });
}
