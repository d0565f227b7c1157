import type { ImageRecord } from '@drover/core';
import type { RegistryAccess } from '@drover/oci';

/** Options of {@link build}. Relative paths are resolved against the current directory. */
export interface BuildOptions {
  /** The recipe file (`recipe.yaml`). */
  recipe: string;
  /** Only these variant ids (default: every variant of the matrix). */
  variant?: string | string[];
  /**
   * Output directory. With one variant its outputs go straight into it; with several, each variant gets
   * `<outDir>/<variant id>`. Default `out/<name>-<version>` (per variant with several variants:
   * `out/<name>-<version>/<variant id>`).
   */
  outDir?: string;
  /** Step cache (default `$XDG_CACHE_HOME/drover`, else `~/.cache/drover`). */
  cacheDir?: string;
  /** Run every step; nothing is read from (or written to) the cache. */
  noCache?: boolean;
  /** Fail with `RECIPE_LOCK_STALE` instead of updating `drover.lock`. */
  frozen?: boolean;
  /** `--set name=value` variables. */
  set?: Record<string, string> | string[];
  /** Environment for `DROVER_VAR_*`, `SOURCE_DATE_EPOCH` and `env:NAME` keys (default: none; the CLI passes process.env). */
  env?: Record<string, string | undefined>;
  /** PEM private key that signs the verity root hash (overrides the recipe's `verity.signingKey`). */
  verityKey?: string;
  /** X.509 certificate of that key (default: a CERTIFICATE block in the key file, or `<key>.crt` next to it). */
  verityCert?: string;
  /** Version written to `image.json`'s `builder` (the CLI passes its own). */
  builderVersion?: string;
  /** Access to registries for `registry` bases (credentials, TLS). */
  registry?: RegistryAccess;
}

/** One step of a variant's build. */
export interface BuildStep {
  /** `lock`, `base`, `layers`, `normalize`, `filesystem`, `sbom`, `verity`, `sign`, `disk`, `rootfs-tar`, `oci`, `outputs`, `record`. */
  name: string;
  /** The step's result came from the cache (for `base`, `layers`, `normalize`: they were not needed at all). */
  cached: boolean;
  durationMs: number;
  /** CPU time of the whole process (every thread, so it can exceed `durationMs`) while the step ran. */
  cpuMs?: number;
  /** Cache key (hex SHA-256 of the step's inputs and version), for cacheable steps. */
  key?: string;
}

/** The build of one variant. */
export interface VariantBuild {
  variant: string;
  /** Absolute output directory. */
  outDir: string;
  record: ImageRecord;
  /** Absolute path of `image.json`. */
  recordPath: string;
  steps: BuildStep[];
  durationMs: number;
}

/** What {@link build} returns. */
export interface BuildResult {
  builds: VariantBuild[];
  durationMs: number;
}

/** The first difference between two builds of the same recipe. */
export interface ReproducibilityDifference {
  variant: string;
  /** Artifact name (`disk`, `root`, …) or `record` for image.json. */
  artifact: string;
  /** File name relative to the output directory. */
  path: string;
  /** First differing byte (for sizes that differ and everything equal before: the shorter size). */
  offset: number;
}

/** What {@link checkReproducible} found. */
export interface ReproducibilityReport {
  reproducible: boolean;
  /** The first build (with the cache, in the requested output directory). */
  first: BuildResult;
  /** Where the second build (no cache) went; deleted afterwards unless `keep` was set. */
  secondOutDir: string;
  /** Artifacts compared, per variant. */
  compared: number;
  differences: ReproducibilityDifference[];
}
