import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import {
  type Artifact,
  type Context,
  type DigestString,
  DroverError,
  digestBytes,
  digestFile,
  type ImageRecord,
  type PartitionRecord,
  resolveContext,
  startProgress,
  throwIfAborted,
  toDroverError,
  type VerityRecord,
  writeAtomically,
} from '@drover/core';
import {
  checkTagName,
  flattenImage,
  type ImageConfig,
  MediaType,
  openLayout,
  pullImage,
  type RootfsTree,
  type TarWriteEntry,
  writeTar,
} from '@drover/oci';
import {
  type Lockfile,
  loadRecipe,
  lockRecipe,
  type ResolvedLayer,
  type ResolvedRecipe,
  serializeLockfile,
} from '@drover/recipe';
import { formatVerity, renderDpsSignature, signRootHash, verityKernelArgument } from '@drover/verity';
import { type DiskDigest, startDiskDigest, writeDisk } from '../gpt/disk.js';
import {
  abLabels,
  abLayout,
  type DiskLayout,
  dpsLayout,
  GPT_ATTR_GROWFS,
  MIB,
  planDisk,
} from '../gpt/layout.js';
import { treeFromDirectory, treeFromTar } from '../rootfs/base.js';
import { writeFilesystem } from '../rootfs/filesystem.js';
import { applyLayers } from '../rootfs/layers.js';
import { normalizeTree } from '../rootfs/normalize.js';
import { writeRootfsTar } from '../rootfs/tar-output.js';
import { FILE_MANIFEST_MEDIA_TYPE, fileManifest } from '../sbom/files.js';
import { findPackages, type PackageInfo } from '../sbom/packages.js';
import { generateSbom } from '../sbom/spdx.js';
import { type CacheEntry, defaultCacheDir, placeFile, StepCache, stepKey } from './cache.js';
import { IMAGE_RECORD_SCHEMA_VERSION } from './record-schema.js';
import { loadVeritySigner, type VeritySigner } from './signing-key.js';
import type { BuildOptions, BuildResult, BuildStep, VariantBuild } from './types.js';

/** Version of the drover builder written into records when the caller does not say. */
export const DROVER_BUILDER_VERSION = '0.0.0';

/** Versions of the cacheable steps: bump one when its output for the same inputs changes. */
export const STEP_VERSIONS = {
  filesystem: 1,
  sbom: 1,
  verity: 1,
  sign: 1,
  disk: 1,
  'rootfs-tar': 1,
  oci: 1,
} as const;

/** Steps in the order they are reported. */
export const BUILD_STEPS = [
  'lock',
  'base',
  'layers',
  'normalize',
  'filesystem',
  'sbom',
  'verity',
  'sign',
  'disk',
  'rootfs-tar',
  'oci',
  'outputs',
  'record',
] as const;

/** Media types of the artifacts a build writes. */
export const ARTIFACT_MEDIA_TYPES = {
  disk: 'application/vnd.drover.disk.gpt',
  root: (type: string) => `application/vnd.drover.filesystem.${type}`,
  'root-verity': 'application/vnd.drover.verity',
  'root-hash-signature': 'application/pkcs7-signature',
  sbom: 'application/spdx+json',
  files: FILE_MANIFEST_MEDIA_TYPE,
  'rootfs-tar': {
    none: 'application/x-tar',
    gzip: 'application/gzip',
    zstd: 'application/zstd',
    xz: 'application/x-xz',
  },
  oci: 'application/vnd.oci.image.layout.v1+tar',
} as const;

const TAR_SUFFIX = { none: '', gzip: '.gz', zstd: '.zst', xz: '.xz' } as const;

interface FilesystemMeta {
  type: 'erofs' | 'squashfs' | 'ext4';
  size: number;
  blockSize: number;
  digest: DigestString;
  uuid?: string;
  filesDigest: DigestString;
  filesSize: number;
  packages: number;
}

interface VerityMeta {
  record: VerityRecord;
  hashDeviceSize: number;
  digest: DigestString;
  size: number;
}

interface FileMeta {
  digest: DigestString;
  size: number;
}

interface DiskMeta extends FileMeta {
  partitions: PartitionRecord[];
}

/**
 * Build a recipe: lock → base → layers → normalize → filesystem → SBOM → verity (+ signature) → disk →
 * outputs → `image.json`, one variant after the other. Every step is cached by a digest of its inputs, so an
 * unchanged rebuild only links cached files into place. Outputs are staged and renamed when complete.
 */
export async function build(options: BuildOptions, ctx: Context = {}): Promise<BuildResult> {
  const started = performance.now();
  throwIfAborted(ctx);
  const recipePath = resolve(options.recipe);
  const env = options.env ?? {};
  const variants =
    options.variant === undefined
      ? undefined
      : Array.isArray(options.variant)
        ? options.variant
        : [options.variant];

  const lockStarted = performance.now();
  const lockResult = await lockRecipe(
    {
      path: recipePath,
      ...(options.set === undefined ? {} : { set: options.set }),
      env,
      ...(options.frozen ? { frozen: true } : {}),
    },
    ctx,
  );
  const loaded = await loadRecipe(
    {
      path: recipePath,
      ...(options.set === undefined ? {} : { set: options.set }),
      env,
      ...(variants === undefined ? {} : { variants }),
    },
    ctx,
  );
  if (loaded.recipes.length === 0) {
    throw new DroverError('BUILD_NO_VARIANT', 'no variant of the recipe matches', {
      kind: 'usage',
      hint: `Variants: ${loaded.matrix.map((m) => m.id).join(', ')}.`,
    });
  }
  const lockMs = performance.now() - lockStarted;
  const lockDigest = digestBytes(serializeLockfile(lockResult.lock));

  const several = loaded.recipes.length > 1;
  const builds: VariantBuild[] = [];
  for (const recipe of loaded.recipes) {
    throwIfAborted(ctx);
    const base = options.outDir
      ? resolve(options.outDir)
      : resolve('out', `${recipe.metadata.name}-${recipe.metadata.version}`);
    const outDir = several ? join(base, recipe.id) : base;
    builds.push(
      await buildVariant({ recipe, lock: lockResult.lock, lockDigest, lockMs, outDir, options, env }, ctx),
    );
  }
  return { builds, durationMs: round(performance.now() - started) };
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

interface VariantInput {
  recipe: ResolvedRecipe;
  lock: Lockfile;
  lockDigest: DigestString;
  lockMs: number;
  outDir: string;
  options: BuildOptions;
  env: Record<string, string | undefined>;
}

/** POSIX path of `path` relative to `from`. */
const rel = (from: string, path: string): string => relative(from, path).split(sep).join('/');

/** The recipe as built, without anything that depends on where the checkout lives. */
function portableRecipe(recipe: ResolvedRecipe, lock: Lockfile): Record<string, unknown> {
  const dir = dirname(recipe.file);
  const { file: _file, files, base, layers, ...rest } = recipe;
  const portableBase =
    base.type === 'registry'
      ? base
      : (() => {
          const { path: _path, ...b } = base;
          return b;
        })();
  return {
    ...rest,
    files: files.map((f) => rel(dir, f)),
    base: portableBase,
    layers: layers.map((layer) => portableLayer(layer, dir, lock)),
  };
}

function portableLayer(layer: ResolvedLayer, recipeDir: string, lock: Lockfile): Record<string, unknown> {
  if (!('source' in layer)) return { ...layer };
  const { source, ...restLayer } = layer;
  const key = rel(recipeDir, source);
  const locked = lock.sources[key];
  if (!locked) {
    throw new DroverError('BUILD_SOURCE_NOT_LOCKED', `layer source ${key} is not in drover.lock`, {
      kind: 'internal',
      hint: 'Run `drover recipe lock` and build again.',
    });
  }
  return { ...restLayer, sourceDigest: locked.digest, sourceKind: locked.kind };
}

async function buildVariant(input: VariantInput, ctx: Context): Promise<VariantBuild> {
  const started = performance.now();
  const { recipe, lock, options, env } = input;
  const log = resolveContext(ctx).logger;
  const id = recipe.id;
  const variantLock = lock.variants[id];
  if (!variantLock) {
    throw new DroverError('BUILD_VARIANT_NOT_LOCKED', `variant ${id} is not in drover.lock`, {
      kind: 'internal',
      hint: 'Run `drover recipe lock` and build again.',
    });
  }
  const sourceDateEpoch = variantLock.sourceDateEpoch;
  const steps = new Map<string, BuildStep>();
  steps.set('lock', { name: 'lock', cached: false, durationMs: round(input.lockMs) });

  /** Run one step with progress and timing. */
  const step = async <T>(
    name: string,
    key: string | undefined,
    fn: () => Promise<{ value: T; cached: boolean }>,
  ): Promise<T> => {
    throwIfAborted(ctx);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const progress = startProgress(ctx, {
      task: `build:${id}:${name}`,
      label: `${id}: ${name}`,
      unit: 'items',
      total: 1,
    });
    try {
      const { value, cached } = await fn();
      progress.update(1);
      progress.done(true);
      const cpu = process.cpuUsage(cpu0);
      steps.set(name, {
        name,
        cached,
        durationMs: round(performance.now() - t0),
        cpuMs: round((cpu.user + cpu.system) / 1000),
        ...(key === undefined ? {} : { key }),
      });
      return value;
    } catch (error) {
      progress.done(false);
      throw error;
    }
  };

  await mkdir(input.outDir, { recursive: true }).catch((error: unknown) => {
    throw toDroverError(error, `creating ${input.outDir}`);
  });
  const staging = join(input.outDir, `.drover-build-${randomBytes(6).toString('hex')}`);
  await mkdir(staging);
  const cache = options.noCache
    ? new StepCache(join(staging, '.cache'), { readable: false })
    : new StepCache(resolve(options.cacheDir ?? defaultCacheDir(env)));
  // work running alongside the steps; always settled before this function returns or throws
  let sbomStep: Promise<CacheEntry<FileMeta>> | undefined;
  let earlyDisk: DiskDigest | undefined;

  try {
    // ---- base: what pins it, and (lazily) the tree ----
    const portable = portableRecipe(recipe, lock);
    const recipeDigest = digestBytes(
      JSON.stringify(portable, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
    );
    const baseInput = {
      type: variantLock.base.type,
      location: variantLock.base.location,
      platform: variantLock.base.platform,
      digest: variantLock.base.digest,
      digestOf: variantLock.base.digestOf,
      ref: variantLock.base.ref,
    };
    if (baseInput.digest === undefined) {
      log.warn(`base ${baseInput.location} is not pinned to a digest: the cache cannot be used for it`, {
        variant: id,
      });
    }
    const baseImages = await describeBase(recipe, variantLock.base);

    let treePromise: Promise<RootfsTree> | undefined;
    const getTree = (): Promise<RootfsTree> => {
      treePromise ??= (async () => {
        const tree = await step('base', undefined, async () => ({
          value: await loadBase(recipe, variantLock.base.digest, cache, options, ctx),
          cached: false,
        }));
        await step('layers', undefined, async () => {
          await applyLayers(
            { tree, layers: recipe.layers, variables: recipe.variables, sourceDateEpoch },
            ctx,
          );
          return { value: undefined, cached: false };
        });
        await step('normalize', undefined, async () => {
          normalizeTree({ tree, sourceDateEpoch });
          return { value: undefined, cached: false };
        });
        return tree;
      })();
      return treePromise;
    };
    // An unpinned base has no stable key: never serve it from the cache.
    const unpinned = baseInput.digest === undefined ? randomBytes(16).toString('hex') : undefined;

    // ---- filesystem (+ file manifest + package list) ----
    const fsInputs = {
      base: baseInput,
      unpinned,
      layers: portable.layers,
      variables: recipe.variables,
      sourceDateEpoch,
      filesystem: recipe.filesystem,
    };
    const fsKey = stepKey('filesystem', STEP_VERSIONS.filesystem, fsInputs);
    const fsEntry = await step('filesystem', fsKey, async () => {
      const hit = await cache.get<FilesystemMeta>('filesystem', fsKey);
      if (hit) return { value: hit, cached: true };
      const tree = await getTree();
      const entry = await cache.put<FilesystemMeta>(
        'filesystem',
        fsKey,
        async (dir) => {
          const fsOpts = recipe.filesystem;
          const fs = await writeFilesystem(
            {
              tree,
              type: fsOpts.type,
              output: join(dir, 'root.img'),
              sourceDateEpoch,
              blockSize: fsOpts.blockSize,
              ...(fsOpts.label === undefined ? {} : { label: fsOpts.label }),
              ...(fsOpts.uuid === undefined ? {} : { uuid: fsOpts.uuid }),
              ...(fsOpts.size === undefined ? {} : { size: fsOpts.size }),
              compression: fsOpts.compression,
              ...(fsOpts.compressionLevel === undefined ? {} : { compressionLevel: fsOpts.compressionLevel }),
              ...(fsOpts.extraArgs.length === 0 ? {} : { extraArgs: fsOpts.extraArgs }),
            },
            ctx,
          );
          const manifestText = `${JSON.stringify(fileManifest({ tree, digests: fs.files }), null, 1)}\n`;
          await writeFile(join(dir, 'files.json'), manifestText);
          const packages = await findPackages({ tree }, ctx);
          await writeFile(join(dir, 'packages.json'), `${JSON.stringify(packages)}\n`);
          return {
            type: fs.type,
            size: fs.size,
            blockSize: fs.blockSize,
            digest: fs.digest,
            ...(fs.uuid === undefined ? {} : { uuid: fs.uuid }),
            filesDigest: digestBytes(manifestText),
            filesSize: Buffer.byteLength(manifestText),
            packages: packages.length,
          };
        },
        ctx,
      );
      return { value: entry, cached: false };
    });
    const fsMeta = fsEntry.meta;
    for (const name of ['base', 'layers', 'normalize']) {
      if (!steps.has(name)) steps.set(name, { name, cached: true, durationMs: 0 });
    }

    // ---- early disk digest ----
    // An A/B disk with a fixed hash partition size has its table and bank A's root known now: its whole-disk
    // digest starts on a worker of its own while the SBOM and the hash tree are made, and the disk step
    // continues it (only for a filesystem built just now: a cached one means a cached disk, most likely).
    if (
      recipe.disk.layout === 'ab' &&
      steps.get('filesystem')?.cached === false &&
      (!recipe.verity.enabled || recipe.disk.partitions.hash !== undefined)
    ) {
      const { layout, contents } = diskLayoutFor(recipe, fsEntry, undefined, undefined);
      earlyDisk = await startDiskDigest({
        layout,
        contents,
        ...(recipe.verity.enabled ? { until: [abLabels().hash.a] } : {}),
      });
    }

    // ---- SBOM ----
    const created = rfc3339(sourceDateEpoch);
    const builderVersion = options.builderVersion ?? DROVER_BUILDER_VERSION;
    const sbomInputs = {
      files: fsMeta.filesDigest,
      fs: fsKey,
      name: recipe.metadata.name,
      version: recipe.metadata.version,
      created,
      creator: `drover-${builderVersion}`,
      namespaceSeed: fsMeta.digest,
    };
    const sbomKey = stepKey('sbom', STEP_VERSIONS.sbom, sbomInputs);
    // The SBOM runs on this thread while verity and the disk digest keep the workers busy; awaited before the
    // outputs (and, when a later step fails, before the failure is reported, so nothing runs on behind it).
    sbomStep = step('sbom', sbomKey, async () => {
      const hit = await cache.get<FileMeta>('sbom', sbomKey);
      if (hit) return { value: hit, cached: true };
      const entry = await cache.put<FileMeta>(
        'sbom',
        sbomKey,
        async (dir) => {
          const files = JSON.parse(await readFile(join(fsEntry.dir, 'files.json'), 'utf8'));
          const packages = JSON.parse(
            await readFile(join(fsEntry.dir, 'packages.json'), 'utf8'),
          ) as PackageInfo[];
          const doc = generateSbom({
            name: recipe.metadata.name,
            version: recipe.metadata.version,
            files,
            packages,
            created,
            creator: sbomInputs.creator,
            namespaceSeed: fsMeta.digest,
          });
          const text = `${JSON.stringify(doc, null, 1)}\n`;
          await writeFile(join(dir, 'sbom.spdx.json'), text);
          return { digest: digestBytes(text), size: Buffer.byteLength(text) };
        },
        ctx,
      );
      return { value: entry, cached: false };
    });

    void Promise.allSettled([sbomStep]); // handled here, awaited below (or in the finally)

    // ---- verity ----
    const v = recipe.verity;
    let verityEntry: CacheEntry<VerityMeta> | undefined;
    if (v.enabled) {
      const uuid = deriveVerityUuid(v.salt, fsMeta.digest);
      const fecOffset =
        v.fecRoots === undefined
          ? undefined
          : alignUp(
              verityTreeEnd(fsMeta.size, v.dataBlockSize, v.hashBlockSize, v.algorithm),
              v.hashBlockSize,
            );
      const verityInputs = {
        fs: fsMeta.digest,
        size: fsMeta.size,
        algorithm: v.algorithm,
        hashType: v.hashType,
        dataBlockSize: v.dataBlockSize,
        hashBlockSize: v.hashBlockSize,
        salt: v.salt,
        uuid,
        fecRoots: v.fecRoots,
        fecOffset,
      };
      const verityKey = stepKey('verity', STEP_VERSIONS.verity, verityInputs);
      verityEntry = await step('verity', verityKey, async () => {
        const hit = await cache.get<VerityMeta>('verity', verityKey);
        if (hit) return { value: hit, cached: true };
        const entry = await cache.put<VerityMeta>(
          'verity',
          verityKey,
          async (dir) => {
            const hashPath = join(dir, 'root.verity');
            const result = await formatVerity(
              {
                dataPath: join(fsEntry.dir, 'root.img'),
                hashPath,
                hashType: v.hashType,
                algorithm: v.algorithm,
                dataBlockSize: v.dataBlockSize,
                hashBlockSize: v.hashBlockSize,
                salt: v.salt,
                uuid,
                ...(v.fecRoots === undefined
                  ? {}
                  : { fecPath: hashPath, fecRoots: v.fecRoots, fecOffset: fecOffset ?? 0 }),
              },
              ctx,
            );
            const record: VerityRecord = { ...result.record, uuid };
            if (result.fec) {
              record.fecOffset = result.fec.offset;
              record.fecBlocks = result.fec.blocks;
            }
            const { digest, size } = await digestFile(hashPath, { progress: false }, ctx);
            return { record, hashDeviceSize: result.hashDeviceSize, digest, size };
          },
          ctx,
        );
        return { value: entry, cached: false };
      });
    }

    // ---- root hash signature ----
    const signer = await loadVeritySigner({
      ...(options.verityKey === undefined ? {} : { verityKey: options.verityKey }),
      ...(options.verityCert === undefined ? {} : { verityCert: options.verityCert }),
      ...(v.signingKey === undefined ? {} : { recipeKey: v.signingKey }),
      recipeFile: recipe.file,
      env,
    });
    let signEntry: CacheEntry<FileMeta & { dps: FileMeta }> | undefined;
    if (signer && !verityEntry) {
      throw new DroverError(
        'BUILD_SIGN_WITHOUT_VERITY',
        'a verity signing key was given but verity is disabled',
        {
          kind: 'usage',
          hint: 'Enable verity in the recipe, or leave out the key.',
        },
      );
    }
    if (signer && verityEntry) {
      const rootHash = verityEntry.meta.record.rootHash;
      const signKey = stepKey('sign', STEP_VERSIONS.sign, {
        rootHash,
        key: digestBytes(signer.key),
        certificate: digestBytes(signer.certificate),
      });
      signEntry = await step('sign', signKey, async () => {
        const hit = await cache.get<FileMeta & { dps: FileMeta }>('sign', signKey);
        if (hit) return { value: hit, cached: true };
        const entry = await cache.put('sign', signKey, (dir) => signInto(dir, rootHash, signer, ctx), ctx);
        return { value: entry, cached: false };
      });
    }

    // ---- disk ----
    let diskEntry: CacheEntry<DiskMeta> | undefined;
    if (recipe.disk.layout !== 'none') {
      const { layout, contents, contentDigests, knownDigests } = diskLayoutFor(
        recipe,
        fsEntry,
        verityEntry,
        signEntry,
      );
      const diskKey = stepKey('disk', STEP_VERSIONS.disk, { layout, contents: contentDigests });
      diskEntry = await step('disk', diskKey, async () => {
        const hit = await cache.get<DiskMeta>('disk', diskKey);
        if (hit) {
          await earlyDisk?.dispose(); // not needed after all: stop it now, not at the end of the build
          return { value: hit, cached: true };
        }
        const entry = await cache.put<DiskMeta>(
          'disk',
          diskKey,
          async (dir) => {
            const output = join(dir, 'disk.img');
            // the disk digest is computed while writing; the partition contents' digests are the cached ones
            const result = await writeDisk(
              { output, layout, contents, digest: earlyDisk ?? true, knownDigests },
              ctx,
            );
            return {
              digest: result.digest!,
              size: result.size,
              partitions: result.partitions.map((p) => {
                const out: PartitionRecord = {
                  number: p.number,
                  label: p.label,
                  typeGuid: p.typeGuid,
                  uuid: p.uuid,
                  offset: p.offset,
                  size: p.size,
                  attributes: p.attributes,
                };
                if (p.digest !== undefined) out.digest = p.digest;
                return out;
              }),
            };
          },
          ctx,
        );
        return { value: entry, cached: false };
      });
    }

    // ---- tree outputs: rootfs tar, OCI archive ----
    const outputs = recipe.outputs;
    const tarOutput = outputs.find((o) => o.type === 'rootfs-tar');
    let tarEntry: CacheEntry<FileMeta & { file: string }> | undefined;
    if (tarOutput) {
      const compression = tarOutput.compression ?? 'none';
      const tarKey = stepKey('rootfs-tar', STEP_VERSIONS['rootfs-tar'], { fs: fsKey, compression });
      tarEntry = await step('rootfs-tar', tarKey, async () => {
        const hit = await cache.get<FileMeta & { file: string }>('rootfs-tar', tarKey);
        if (hit) return { value: hit, cached: true };
        const tree = await getTree();
        const entry = await cache.put(
          'rootfs-tar',
          tarKey,
          async (dir) => {
            const file = `rootfs.tar${TAR_SUFFIX[compression]}`;
            const result = await writeRootfsTar({ tree, output: join(dir, file), compression }, ctx);
            return { file, digest: result.digest, size: result.size };
          },
          ctx,
        );
        return { value: entry, cached: false };
      });
    }
    const ociOutput = outputs.find((o) => o.type === 'oci');
    let ociEntry: CacheEntry<FileMeta & { manifest: DigestString }> | undefined;
    if (ociOutput) {
      const tag = ociOutput.ref ?? recipe.metadata.version;
      const ociKey = stepKey('oci', STEP_VERSIONS.oci, { fs: fsKey, tag, platform: recipe.base.platform });
      ociEntry = await step('oci', ociKey, async () => {
        const hit = await cache.get<FileMeta & { manifest: DigestString }>('oci', ociKey);
        if (hit) return { value: hit, cached: true };
        const tree = await getTree();
        const entry = await cache.put(
          'oci',
          ociKey,
          (dir) => writeOciArchive(dir, tree, recipe, tag, sourceDateEpoch, ctx),
          ctx,
        );
        return { value: entry, cached: false };
      });
    }

    // ---- outputs: link cached files into the staging directory ----
    const artifacts: Artifact[] = [];
    const placed: string[] = [];
    const targetName = (type: string, fallback: string): string => {
      const given = outputs.find((o) => o.type === type)?.path;
      return given === undefined ? fallback : safeOutputName(given);
    };
    const sbomEntry = await sbomStep;
    await step('outputs', undefined, async () => {
      const place = async (
        name: string,
        source: string,
        file: string,
        meta: FileMeta,
        mediaType: string,
      ): Promise<void> => {
        if (placed.includes(file)) return;
        await mkdir(dirname(join(staging, file)), { recursive: true });
        await placeFile(source, join(staging, file), ctx);
        placed.push(file);
        artifacts.push({ name, path: file, digest: meta.digest, size: meta.size, mediaType });
      };
      if (diskEntry && outputs.some((o) => o.type === 'disk')) {
        await place(
          'disk',
          join(diskEntry.dir, 'disk.img'),
          targetName('disk', 'disk.img'),
          diskEntry.meta,
          ARTIFACT_MEDIA_TYPES.disk,
        );
      }
      const wantRoot =
        outputs.some((o) => o.type === 'filesystem' || o.type === 'partitions') ||
        (recipe.disk.layout === 'none' && !outputs.some((o) => o.type === 'disk'));
      if (wantRoot) {
        await place(
          'root',
          join(fsEntry.dir, 'root.img'),
          targetName('filesystem', 'root.img'),
          { digest: fsMeta.digest, size: fsMeta.size },
          ARTIFACT_MEDIA_TYPES.root(fsMeta.type),
        );
        if (verityEntry) {
          await place(
            'root-verity',
            join(verityEntry.dir, 'root.verity'),
            'root.verity',
            verityEntry.meta,
            ARTIFACT_MEDIA_TYPES['root-verity'],
          );
        }
      }
      if (signEntry) {
        await place(
          'root-hash-signature',
          join(signEntry.dir, 'root.roothash.p7s'),
          'root.roothash.p7s',
          signEntry.meta,
          ARTIFACT_MEDIA_TYPES['root-hash-signature'],
        );
      }
      if (tarEntry && tarOutput) {
        const compression = tarOutput.compression ?? 'none';
        await place(
          'rootfs-tar',
          join(tarEntry.dir, tarEntry.meta.file),
          targetName('rootfs-tar', tarEntry.meta.file),
          tarEntry.meta,
          ARTIFACT_MEDIA_TYPES['rootfs-tar'][compression],
        );
      }
      if (ociEntry) {
        await place(
          'oci',
          join(ociEntry.dir, 'image.oci.tar'),
          targetName('oci', 'image.oci.tar'),
          ociEntry.meta,
          ARTIFACT_MEDIA_TYPES.oci,
        );
      }
      await place(
        'sbom',
        join(sbomEntry.dir, 'sbom.spdx.json'),
        'sbom.spdx.json',
        sbomEntry.meta,
        ARTIFACT_MEDIA_TYPES.sbom,
      );
      await place(
        'files',
        join(fsEntry.dir, 'files.json'),
        'files.json',
        { digest: fsMeta.filesDigest, size: fsMeta.filesSize },
        ARTIFACT_MEDIA_TYPES.files,
      );
      return { value: undefined, cached: false };
    });

    // ---- image.json ----
    const recordPath = join(input.outDir, 'image.json');
    const record = await step('record', undefined, async () => {
      const kernelArguments = [...recipe.boot.kernelArgs];
      if (verityEntry)
        kernelArguments.push(verityKernelArgument({ rootHash: verityEntry.meta.record.rootHash }));
      const sbomArtifact = artifacts.find((a) => a.name === 'sbom')!;
      const imageRecord: ImageRecord = {
        schemaVersion: IMAGE_RECORD_SCHEMA_VERSION,
        name: recipe.metadata.name,
        version: recipe.metadata.version,
        variant: id,
        arch: recipe.base.platform.architecture,
        recipeDigest,
        lockDigest: input.lockDigest,
        baseImages,
        filesystem: { type: fsMeta.type, size: fsMeta.size, digest: fsMeta.digest },
        ...(verityEntry ? { verity: verityEntry.meta.record } : {}),
        ...(diskEntry ? { partitions: diskEntry.meta.partitions } : {}),
        artifacts,
        kernelArguments,
        sbom: { path: sbomArtifact.path, digest: sbomArtifact.digest, format: 'spdx-2.3' },
        builder: { name: 'drover', version: builderVersion },
        created,
      };
      // Move the staged artifacts into place, then the record last: a reader that sees image.json sees them all
      // (an older record goes first, so it never describes a half-replaced set).
      await rm(recordPath, { force: true });
      for (const file of placed) {
        const target = join(input.outDir, file);
        await mkdir(dirname(target), { recursive: true });
        await rename(join(staging, file), target);
      }
      throwIfAborted(ctx);
      await writeAtomically(recordPath, (tmp) => writeFile(tmp, `${JSON.stringify(imageRecord, null, 2)}\n`));
      return { value: imageRecord, cached: false };
    });

    const ordered = BUILD_STEPS.flatMap((name) => {
      const s = steps.get(name);
      return s ? [s] : [];
    });
    return {
      variant: id,
      outDir: input.outDir,
      record,
      recordPath,
      steps: ordered,
      durationMs: round(performance.now() - started),
    };
  } finally {
    await Promise.allSettled([sbomStep, earlyDisk?.dispose()]);
    await rm(staging, { recursive: true, force: true });
  }
}

/** RFC 3339 UTC without fractions, from seconds since the epoch. */
function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

const DIGEST_BYTES: Record<string, number> = { sha256: 32, sha512: 64, sha1: 20 };

/** Bytes from 0 of a hash device (superblock + every level) for `dataBytes` of data. */
export function verityTreeEnd(dataBytes: number, dbs: number, hbs: number, algorithm: string): number {
  const digest = DIGEST_BYTES[algorithm] ?? 32;
  let perBlock = 1;
  while (perBlock * 2 <= Math.floor(hbs / digest)) perBlock *= 2;
  let n = Math.floor(dataBytes / dbs);
  let blocks = 0;
  while (n > 1) {
    n = Math.ceil(n / perBlock);
    blocks += n;
  }
  return hbs + blocks * hbs;
}

/** The verity superblock UUID: derived from the salt and the filesystem digest, so rebuilds are identical. */
export function deriveVerityUuid(salt: string, fsDigest: string): string {
  const h = createHash('sha256').update(`drover-verity-uuid/v1\0${salt}\0${fsDigest}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x40;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Image references and digests of the base, for the record (no absolute paths). */
async function describeBase(
  recipe: ResolvedRecipe,
  locked: Lockfile['variants'][string]['base'],
): Promise<NonNullable<ImageRecord['baseImages']>> {
  const platform = locked.platform;
  const base = recipe.base;
  if (base.type === 'layout') {
    try {
      const layout = await openLayout({ dir: base.path });
      const image = await layout.resolveImage(base.ref, base.platform);
      const ref = base.ref ? `${base.location}:${base.ref}` : base.location;
      return [{ ref, digest: image.descriptor.digest, platform }];
    } catch (error) {
      throw toDroverError(error, `reading base layout ${base.location}`);
    }
  }
  if (locked.digest === undefined) return [];
  const ref = base.type === 'registry' ? base.ref : base.location;
  return [{ ref, digest: locked.digest, platform }];
}

/** Flatten (or read) the base into a tree. */
async function loadBase(
  recipe: ResolvedRecipe,
  digest: DigestString | undefined,
  cache: StepCache,
  options: BuildOptions,
  ctx: Context,
): Promise<RootfsTree> {
  const base = recipe.base;
  switch (base.type) {
    case 'layout':
      return (
        await flattenImage(
          { layout: base.path, ...(base.ref ? { reference: base.ref } : {}), platform: base.platform },
          ctx,
        )
      ).tree;
    case 'directory':
      return treeFromDirectory({ path: base.path }, ctx);
    case 'tar':
      return treeFromTar({ path: base.path }, ctx);
    case 'registry': {
      let reference = base.ref;
      if (digest !== undefined && !reference.includes('@')) {
        const slash = reference.lastIndexOf('/');
        const colon = reference.lastIndexOf(':');
        reference = `${colon > slash ? reference.slice(0, colon) : reference}@${digest}`;
      }
      const layoutDir = join(cache.dir, 'oci');
      const pulled = await pullImage(
        {
          reference,
          layout: layoutDir,
          platform: base.platform,
          ...(options.registry ? { registry: options.registry } : {}),
        },
        ctx,
      );
      return (
        await flattenImage(
          { layout: layoutDir, reference: pulled.manifests[0] ?? pulled.digest, platform: base.platform },
          ctx,
        )
      ).tree;
    }
  }
}

async function signInto(
  dir: string,
  rootHash: string,
  signer: VeritySigner,
  ctx: Context,
): Promise<FileMeta & { dps: FileMeta }> {
  const signed = await signRootHash({ rootHash, key: signer.key, certificate: signer.certificate }, ctx);
  await writeFile(join(dir, 'root.roothash.p7s'), signed.signature);
  const dps = renderDpsSignature(signed);
  await writeFile(join(dir, 'root.verity-sig'), dps);
  return {
    digest: digestBytes(signed.signature),
    size: signed.signature.length,
    dps: { digest: digestBytes(dps), size: dps.length },
  };
}

function tooSmall(what: string, need: number, have: number, key: string): DroverError {
  return new DroverError(
    'BUILD_PARTITION_TOO_SMALL',
    `the ${what} needs ${need} bytes but disk.partitions.${key} is ${have}`,
    {
      hint: `Raise disk.partitions.${key} to at least ${Math.ceil(need / MIB)}MiB.`,
      details: { need, have },
    },
  );
}

/** The disk layout of a recipe and what goes into it. */
function diskLayoutFor(
  recipe: ResolvedRecipe,
  fsEntry: CacheEntry<FilesystemMeta>,
  verityEntry: CacheEntry<VerityMeta> | undefined,
  signEntry: CacheEntry<FileMeta & { dps: FileMeta }> | undefined,
): {
  layout: DiskLayout;
  contents: Record<string, string>;
  contentDigests: Record<string, string>;
  knownDigests: Record<string, { digest: DigestString; size: number }>;
} {
  const disk = recipe.disk;
  const parts = disk.partitions;
  const rootSize = parts.root ?? alignUp(fsEntry.meta.size, MIB);
  if (fsEntry.meta.size > rootSize) throw tooSmall('root filesystem', fsEntry.meta.size, rootSize, 'root');
  const hashSize = parts.hash ?? (verityEntry ? alignUp(verityEntry.meta.size, MIB) : MIB);
  if (verityEntry && verityEntry.meta.size > hashSize) {
    throw tooSmall('verity hash tree', verityEntry.meta.size, hashSize, 'hash');
  }
  const contents: Record<string, string> = {};
  const contentDigests: Record<string, string> = {};
  const knownDigests: Record<string, { digest: DigestString; size: number }> = {};
  const put = (label: string, path: string, meta: { digest: DigestString; size: number }): void => {
    contents[label] = path;
    contentDigests[label] = meta.digest;
    knownDigests[label] = { digest: meta.digest, size: meta.size };
  };
  let layout: DiskLayout;
  if (disk.layout === 'ab') {
    const labels = abLabels();
    const dataSpec = disk.data;
    const dataSize = (extra: number): number => {
      if (dataSpec === undefined) return MIB;
      if (dataSpec.size !== 'rest') return dataSpec.size;
      if (disk.size === undefined) return 64 * MIB + extra;
      return MIB; // placeholder, fixed below
    };
    const options = {
      rootSize,
      hashSize,
      ...(parts.boot === undefined ? {} : { bootSize: parts.boot }),
      ...(parts.reserved === undefined ? {} : { reservedSize: parts.reserved }),
      ...(parts.private === undefined ? {} : { privateSize: parts.private }),
      dataSize: dataSize(0),
      ...(disk.size === undefined ? {} : { diskSize: disk.size }),
    };
    layout = abLayout(options);
    const dataIndex = layout.partitions.findIndex((p) => p.label === labels.data);
    if (dataSpec?.size === 'rest' && disk.size !== undefined) {
      // The data partition takes what is left up to the backup GPT (33 sectors), rounded down to 1 MiB.
      const probe = planDisk({ ...layout, size: undefined });
      const offset = probe.partitions[dataIndex]!.offset;
      const rest = Math.floor((disk.size - 33 * 512 - offset) / MIB) * MIB;
      if (rest < MIB) {
        throw new DroverError(
          'BUILD_DISK_TOO_SMALL',
          `disk.size ${disk.size} leaves no room for the data partition`,
          {
            hint: `Raise disk.size above ${offset + MIB + 33 * 512} bytes or give disk.data.size.`,
          },
        );
      }
      layout.partitions[dataIndex]!.size = rest;
    }
    if (dataSpec === undefined) {
      layout.partitions.splice(dataIndex, 1);
    } else if (dataSpec.filesystem !== 'none') {
      // Left empty (all zero, no filesystem): first boot formats it; bit 59 says "grow/format me" explicitly.
      layout.partitions[dataIndex]!.attributes = GPT_ATTR_GROWFS;
    }
    put(labels.root.a, join(fsEntry.dir, 'root.img'), fsEntry.meta);
    if (verityEntry) put(labels.hash.a, join(verityEntry.dir, 'root.verity'), verityEntry.meta);
  } else {
    if (!verityEntry) {
      throw new DroverError(
        'BUILD_DPS_NEEDS_VERITY',
        'the dps disk layout needs verity (partition UUIDs come from the root hash)',
        {
          hint: 'Enable verity, or use disk.layout ab or none.',
        },
      );
    }
    const rootHash = verityEntry.meta.record.rootHash;
    layout = dpsLayout({
      arch: disk.architecture,
      rootHash,
      version: recipe.metadata.version,
      dataSize: rootSize,
      veritySize: hashSize,
      ...(signEntry ? { signatureSize: parts.signature ?? MIB } : {}),
      ...(parts.esp === undefined ? {} : { espSize: parts.esp }),
      ...(disk.size === undefined ? {} : { diskSize: disk.size }),
    });
    const base = 'root';
    const version = recipe.metadata.version;
    put(`${base}_${version}`, join(fsEntry.dir, 'root.img'), fsEntry.meta);
    put(`${base}-verity_${version}`, join(verityEntry.dir, 'root.verity'), verityEntry.meta);
    if (signEntry)
      put(`${base}-verity-sig_${version}`, join(signEntry.dir, 'root.verity-sig'), signEntry.meta.dps);
    if (disk.data && disk.data.size !== 'rest') {
      layout.partitions.push({
        label: disk.data.label,
        typeGuid: '0fc63daf-8483-4772-8e79-3d69d8477de4',
        size: disk.data.size,
        ...(disk.data.filesystem === 'none' ? {} : { attributes: GPT_ATTR_GROWFS }),
      });
    }
  }
  return { layout, contents, contentDigests, knownDigests };
}

/** An output path from the recipe: relative, inside the output directory. */
function safeOutputName(path: string): string {
  const n = normalize(path).split(sep).join('/');
  if (isAbsolute(path) || n.startsWith('../') || n === '..' || n === '.' || n.startsWith('.drover-build-')) {
    throw new DroverError(
      'BUILD_OUTPUT_PATH_INVALID',
      `output path ${JSON.stringify(path)} must stay inside the output directory`,
      {
        kind: 'usage',
        hint: 'Give outputs[].path relative to the output directory, without "..".',
      },
    );
  }
  return n;
}

/** The image as an OCI layout in a tar file (`oci-archive:`): one gzip layer holding the root filesystem. */
async function writeOciArchive(
  dir: string,
  tree: RootfsTree,
  recipe: ResolvedRecipe,
  tag: string,
  sourceDateEpoch: number,
  ctx: Context,
): Promise<FileMeta & { manifest: DigestString }> {
  checkTagName(tag);
  const work = join(dir, '.work');
  await mkdir(work);
  try {
    const tarPath = join(work, 'layer.tar');
    const tar = await writeRootfsTar({ tree, output: tarPath, compression: 'none' }, ctx);
    const layout = await openLayout({ dir: join(work, 'layout'), create: true }, ctx);
    const gz = createGzip({ level: 6 });
    const source = createReadStream(tarPath);
    const done = pipeline(source, gz);
    const blob = await layout.blobs.put(gz, {}, ctx);
    await done;
    const created = rfc3339(sourceDateEpoch);
    const platform = recipe.base.platform;
    const config: ImageConfig = {
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      created,
      config: { Labels: recipe.metadata.labels },
      rootfs: { type: 'layers', diff_ids: [tar.digest] },
      history: [{ created, created_by: `drover build ${recipe.metadata.name} ${recipe.metadata.version}` }],
    } as ImageConfig;
    const configBlob = await layout.blobs.putBytes(Buffer.from(JSON.stringify(config)));
    const descriptor = await layout.putManifest(
      {
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: configBlob.digest, size: configBlob.size },
        layers: [{ mediaType: MediaType.OciLayerGzip, digest: blob.digest, size: blob.size }],
        annotations: { 'org.opencontainers.image.created': created },
      },
      MediaType.OciManifest,
    );
    descriptor.platform = platform;
    await layout.tag(descriptor, tag);
    // Tar the layout deterministically: sorted names, fixed owners and times.
    const entries: TarWriteEntry[] = [];
    const walk = async (abs: string, prefix: string): Promise<void> => {
      for (const name of (await readdir(abs)).sort()) {
        const path = join(abs, name);
        const rel = prefix ? `${prefix}/${name}` : name;
        const info = await stat(path);
        if (info.isDirectory()) {
          entries.push({ path: `${rel}/`, type: 'dir', mode: 0o755, mtime: sourceDateEpoch });
          await walk(path, rel);
        } else {
          entries.push({
            path: rel,
            type: 'file',
            mode: 0o644,
            mtime: sourceDateEpoch,
            size: info.size,
            open: () => createReadStream(path),
          });
        }
      }
    };
    await walk(layout.dir, '');
    const output = join(dir, 'image.oci.tar');
    const { Readable } = await import('node:stream');
    const { createWriteStream } = await import('node:fs');
    await pipeline(Readable.from(writeTar(entries)), createWriteStream(output));
    const { digest, size } = await digestFile(output, { progress: false }, ctx);
    return { digest, size, manifest: descriptor.digest };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
