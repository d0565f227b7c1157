import { type Context, DroverError, type ImageRecord } from '@drover/core';

/** Options for {@link inspectImageFile}. */
export interface InspectImageFileOptions {
  /** A disk image, a filesystem image, an `image.json` record or a build output directory. */
  path: string;
}

/** What {@link inspectImageFile} found (shape owned by the report lane; documented in docs/image-record.md). */
export interface ImageInspectionReport {
  kind: 'disk' | 'filesystem' | 'record';
  path: string;
  size: number;
  record?: ImageRecord;
  [key: string]: unknown;
}

/** Describe an image from the disk itself (partitions, filesystem, verity) or from its record. */
export async function inspectImageFile(
  _options: InspectImageFileOptions,
  _ctx: Context = {},
): Promise<ImageInspectionReport> {
  throw new DroverError('NOT_IMPLEMENTED', 'inspectImageFile is not implemented yet', { kind: 'internal' });
}
