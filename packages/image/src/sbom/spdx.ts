import { DroverError } from '@drover/core';
import type { FileManifest } from './files.js';
import type { PackageInfo } from './packages.js';

/** Options for {@link generateSbom}. */
export interface GenerateSbomOptions {
  /** Image name and version (the SPDX document name and the described package). */
  name: string;
  version: string;
  files: FileManifest;
  packages: readonly PackageInfo[];
  /** RFC 3339 creation time, from sourceDateEpoch (reproducible). */
  created: string;
  /** Tool string, `drover-<version>`. */
  creator: string;
  /** Stable input for the document namespace (e.g. the filesystem digest), so the same image gives the same SBOM. */
  namespaceSeed: string;
}

/** An SPDX 2.3 JSON document (kept loose: the SPDX JSON schema is the contract). */
export type SpdxDocument = Record<string, unknown> & { spdxVersion: 'SPDX-2.3' };

/** Build a deterministic SPDX 2.3 document: the image package, its files with digests, and OS packages. */
export function generateSbom(_options: GenerateSbomOptions): SpdxDocument {
  throw new DroverError('NOT_IMPLEMENTED', 'generateSbom is not implemented yet', { kind: 'internal' });
}
