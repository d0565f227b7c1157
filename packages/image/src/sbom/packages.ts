import { type Context, DroverError } from '@drover/core';
import type { RootfsTree } from '@drover/oci';

/** A package found in the image's package databases. */
export interface PackageInfo {
  name: string;
  version: string;
  /** `deb`, `apk` or `rpm`. */
  type: 'deb' | 'apk' | 'rpm';
  arch?: string;
  license?: string;
  /** Source package, when the database says. */
  source?: string;
  /** purl, e.g. `pkg:deb/debian/openssl@3.0.11-1?arch=amd64`. */
  purl: string;
  /** Installed files the database lists (paths in the image), when it lists them. */
  files?: string[];
}

/** Options for {@link findPackages}. */
export interface FindPackagesOptions {
  tree: RootfsTree;
}

/** Read the package databases of a tree: dpkg `status`, apk `installed` (and rpm where feasible). */
export async function findPackages(
  _options: FindPackagesOptions,
  _ctx: Context = {},
): Promise<PackageInfo[]> {
  throw new DroverError('NOT_IMPLEMENTED', 'findPackages is not implemented yet', { kind: 'internal' });
}
