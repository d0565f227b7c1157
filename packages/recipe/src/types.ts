import type { DigestString } from '@drover/core';
import type { RecipeProblem, SourcePosition } from './problems.js';
import type { SettingsValue } from './settings.js';
import type { Owner } from './units.js';

// What the image builder consumes: a recipe with extends, variant overrides and variables applied, every
// default filled in, sizes in bytes, modes as numbers and sources as absolute paths.

export interface Platform {
  os: string;
  /** OCI (GOARCH) name: amd64, arm64, … */
  architecture: string;
  variant?: string;
}

export type ResolvedBase =
  | { type: 'registry'; ref: string; platform: Platform }
  | { type: 'layout'; location: string; path: string; ref?: string; platform: Platform }
  | { type: 'directory'; location: string; path: string; platform: Platform }
  | { type: 'tar'; location: string; path: string; platform: Platform };

interface SourceRef {
  /** As written in the recipe, relative to the file that declared it. */
  from: string;
  /** Absolute path on this machine. */
  source: string;
}

export type ResolvedLayer =
  | ({
      type: 'copy';
      to: string;
      owner: Owner;
      mode?: number;
      dirMode: number;
      exclude: string[];
    } & SourceRef)
  | { type: 'file'; path: string; content: string; owner: Owner; mode: number }
  | ({ type: 'template'; path: string; owner: Owner; mode: number } & SourceRef)
  | { type: 'symlink'; path: string; target: string; owner: Owner }
  | { type: 'directory'; path: string; owner: Owner; mode: number }
  | { type: 'remove'; paths: string[] }
  | {
      type: 'settings';
      path: string;
      format: 'toml' | 'json';
      /** Values of this layer merged over every earlier settings layer for the same path. */
      values: Record<string, SettingsValue>;
      /** The file content to write. */
      content: string;
      owner: Owner;
      mode: number;
    };

export type FilesystemType = 'erofs' | 'squashfs' | 'ext4';

export interface ResolvedFilesystem {
  type: FilesystemType;
  /** From the recipe or SOURCE_DATE_EPOCH; when absent the lockfile's value applies (see `lockRecipe`). */
  sourceDateEpoch?: number;
  compression: string;
  compressionLevel?: number;
  blockSize: number;
  label?: string;
  uuid?: string;
  size?: number;
  extraArgs: string[];
}

export interface ResolvedVerity {
  enabled: boolean;
  algorithm: 'sha256' | 'sha512' | 'sha1';
  hashType: 0 | 1;
  dataBlockSize: number;
  hashBlockSize: number;
  /** Hex, or `-` for none. */
  salt: string;
  saltSource: 'recipe' | 'derived';
  fecRoots?: number;
  signingKey?: string;
  options: string[];
}

export type DiskLayout = 'ab' | 'dps' | 'none';

export interface ResolvedDisk {
  layout: DiskLayout;
  size?: number;
  architecture: 'x86_64' | 'aarch64';
  /** Partition sizes in bytes (per bank for ab), defaults filled in; empty for layout none. */
  partitions: Partial<
    Record<'boot' | 'root' | 'hash' | 'reserved' | 'private' | 'esp' | 'signature', number>
  >;
  data?: { size: number | 'rest'; filesystem: 'ext4' | 'xfs' | 'none'; label: string };
}

export type OutputType = 'disk' | 'partitions' | 'filesystem' | 'oci' | 'rootfs-tar';

export interface ResolvedOutput {
  type: OutputType;
  path?: string;
  compression?: 'none' | 'gzip' | 'zstd' | 'xz';
  ref?: string;
}

/** One fully resolved recipe: a single variant, ready to build. */
export interface ResolvedRecipe {
  apiVersion: 'drover.dev/v1';
  kind: 'Recipe';
  /** Stable variant id: axis values joined by `-` in axis order, or `default` without variants. */
  id: string;
  /** Axis values of this variant (empty without variants). */
  variant: Record<string, string>;
  /** Absolute path of the recipe file. */
  file: string;
  /** Every recipe file read, the recipe first, then what it extends. */
  files: string[];
  metadata: { name: string; version: string; description?: string; labels: Record<string, string> };
  /** The effective variables (recipe, DROVER_VAR_*, --set, axes, `variant`). */
  variables: Record<string, string>;
  base: ResolvedBase;
  layers: ResolvedLayer[];
  filesystem: ResolvedFilesystem;
  verity: ResolvedVerity;
  disk: ResolvedDisk;
  outputs: ResolvedOutput[];
  boot: { kernelArgs: string[] };
}

/** One entry of the variants matrix. */
export interface VariantCombination {
  id: string;
  values: Record<string, string>;
}

export interface LoadRecipeOptions {
  /** The recipe file. */
  path: string;
  /** `--set name=value` pairs, as a record or as `name=value` strings. */
  set?: Record<string, string> | string[];
  /** Environment to read `DROVER_VAR_*` and `SOURCE_DATE_EPOCH` from (default: none; the CLI passes process.env). */
  env?: Record<string, string | undefined>;
  /** Only these variant ids (default: all). */
  variants?: string[];
}

/** What `loadRecipe` returns. */
export interface LoadedRecipe {
  file: string;
  files: string[];
  /** One resolved recipe per variant, in matrix order. */
  recipes: ResolvedRecipe[];
  /** Every variant of the matrix (also those filtered out by `variants`). */
  matrix: VariantCombination[];
  /** Source positions per variant id, keyed by document path as written (`layers[2].copy.mode`). */
  positions: Record<string, Record<string, SourcePosition>>;
}

export interface ValidateRecipeOptions {
  /** The recipe file; or give `text` (and optionally `path` for positions and relative paths). */
  path?: string;
  text?: string;
  set?: Record<string, string> | string[];
  env?: Record<string, string | undefined>;
}

export interface ValidationReport {
  file: string;
  valid: boolean;
  problems: RecipeProblem[];
  /** Variant ids (when the matrix itself is valid). */
  variants: string[];
}

/** What a base resolver says about a base: the digest that pins it. */
export interface BaseLock {
  type: ResolvedBase['type'];
  /** The reference or path as written. */
  location: string;
  /** `os/arch[/variant]`. */
  platform: string;
  /** Manifest digest (registry, layout via resolver), content digest (directory, tar, layout index). */
  digest?: DigestString;
  /** What `digest` is a digest of: `manifest`, `index.json`, `tree`, `file`. */
  digestOf?: 'manifest' | 'index.json' | 'tree' | 'file';
  /** Anything else the resolver wants recorded (e.g. the resolved tag). */
  ref?: string;
}

/**
 * Pins a base image. The OCI package plugs in here to resolve registry references (and layout refs) to a
 * manifest digest per platform; return undefined to fall back to the built-in handling.
 */
export interface BaseResolver {
  resolve(base: ResolvedBase, ctx?: import('@drover/core').Context): Promise<BaseLock | undefined>;
}

/** A local source the layers read. */
export interface SourceLock {
  kind: 'file' | 'directory';
  digest: DigestString;
}

/** `drover.lock`: everything a build reads, pinned. */
export interface Lockfile {
  lockVersion: 1;
  /** The recipe file, relative to the lockfile. */
  recipe: string;
  variants: Record<string, { base: BaseLock; sourceDateEpoch: number; sources: string[] }>;
  /** Keyed by path relative to the recipe's folder (POSIX separators). */
  sources: Record<string, SourceLock>;
}

export interface LockChange {
  /** Dotted path in the lockfile, `variants.default.base.digest`. */
  path: string;
  change: 'added' | 'removed' | 'changed';
  before?: unknown;
  after?: unknown;
}

/** Options of `lockRecipe`; the lock always covers every variant. */
export interface LockRecipeOptions extends Omit<LoadRecipeOptions, 'variants'> {
  /** Lockfile path (default: `drover.lock` next to the recipe). */
  lockPath?: string;
  /** Do not write; fail with `RECIPE_LOCK_STALE` and the diff if the lock is missing or out of date. */
  frozen?: boolean;
  /** Write the lockfile (default true unless frozen). */
  write?: boolean;
  /** Resolves registry bases (and optionally layout refs) to digests; supplied by the OCI package. */
  resolver?: BaseResolver;
  /** Current time in seconds, for a fresh lock without any sourceDateEpoch (tests pin it). */
  now?: number;
}

export interface LockResult {
  lockPath: string;
  lock: Lockfile;
  /** Differences against the lockfile that was on disk (everything is `added` for a new lock). */
  changes: LockChange[];
  written: boolean;
  upToDate: boolean;
}
