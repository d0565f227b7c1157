import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { type Context, DroverError, resolveContext, toDroverError } from '@drover/core';
import {
  addUpdate,
  type ManifestUpdate,
  parseUpdateManifest,
  type UpdateManifest,
  type Waves,
} from '../manifest.js';
import { addTargets, type RepositoryStatus, type RoleKeys, readRepository } from './repo.js';

/** The target name nodes read the update manifest from. */
export const UPDATE_MANIFEST_TARGET = 'manifest.json';

export interface PublishUpdateOptions {
  /** Repository directory (`drover repo init`). */
  dir: string;
  variant: string;
  arch: string;
  version: string;
  /** Hosts of this variant/arch never go past it; defaults to `version` (set for the whole variant/arch). */
  maxVersion?: string;
  /** Hosts older than this must first update to an intermediate version (a stepping-stone release). */
  minVersion?: string;
  /** Seed bound → RFC 3339 start; hosts interpolate by their seed relative to the wave's start seed. */
  waves?: Waves;
  /** Image kind (boot, root, hash, …) → local file, added as a target under its base name. */
  images?: Record<string, string>;
  /** Image kind → a target already in the repository. */
  imageTargets?: Record<string, string>;
  /** `"(from, to)"` → migration names, merged into the manifest's migrations. */
  migrations?: Record<string, string[]>;
  /** targets, snapshot and timestamp keys. */
  keys: RoleKeys;
  now?: Date;
}

export interface PublishUpdateResult {
  update: ManifestUpdate;
  manifest: UpdateManifest;
  repository: RepositoryStatus;
}

/**
 * Add (or replace) a version in the repository's update manifest: read the signed `manifest.json` target (checking
 * its hash), add the update and its images, and re-sign targets, snapshot and timestamp in one step.
 */
export async function publishUpdate(
  options: PublishUpdateOptions,
  ctx: Context = {},
): Promise<PublishUpdateResult> {
  const { logger } = resolveContext(ctx);
  const current = await readRepository({ dir: options.dir });
  const existing = await readManifestTarget(options.dir, current);
  const known = new Set(current.targets.map((t) => t.name));
  const imageFiles = Object.entries(options.images ?? {});
  const images: Record<string, string> = {};
  for (const [kind, file] of imageFiles) {
    const name = posix.basename(file.replaceAll('\\', '/'));
    if (name === UPDATE_MANIFEST_TARGET)
      throw usage(`image ${kind} cannot be named ${UPDATE_MANIFEST_TARGET}`);
    images[kind] = name;
  }
  for (const [kind, name] of Object.entries(options.imageTargets ?? {})) {
    if (!known.has(name)) {
      throw new DroverError(
        'TUF_TARGET_NOT_FOUND',
        `image ${kind}: target ${name} is not in the repository`,
        {
          kind: 'not-found',
          hint: `Add the file with --image ${kind}=FILE, or name an existing target: ${[...known].join(', ') || '(none)'}.`,
        },
      );
    }
    images[kind] = name;
  }
  if (Object.keys(images).length === 0) {
    throw usage('the update names no images');
  }
  const manifest = addUpdate({
    ...(existing ? { manifest: existing } : {}),
    update: {
      variant: options.variant,
      arch: options.arch,
      version: options.version,
      ...(options.maxVersion ? { max_version: options.maxVersion } : {}),
      ...(options.minVersion ? { min_version: options.minVersion } : {}),
      waves: options.waves ?? {},
      images,
    },
    ...(options.migrations ? { migrations: options.migrations } : {}),
  });
  parseUpdateManifest(manifest);
  const update = manifest.updates.find(
    (u) => u.variant === options.variant && u.arch === options.arch && u.version === options.version,
  ) as ManifestUpdate;
  const scratch = await mkdtemp(join(tmpdir(), 'drover-manifest-'));
  try {
    const file = join(scratch, UPDATE_MANIFEST_TARGET);
    await writeFile(file, `${JSON.stringify(manifest, null, 2)}\n`);
    const repository = await addTargets(
      {
        dir: options.dir,
        targets: [...imageFiles.map(([, f]) => ({ file: f })), { file, name: UPDATE_MANIFEST_TARGET }],
        keys: options.keys,
        ...(options.now ? { now: options.now } : {}),
      },
      ctx,
    );
    logger.info(
      `manifest: ${options.variant}/${options.arch} ${options.version} (max ${update.max_version})`,
    );
    return { update, manifest, repository };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Read the repository's current update manifest target, checking it against the signed targets metadata. */
async function readManifestTarget(
  dir: string,
  status: RepositoryStatus,
): Promise<UpdateManifest | undefined> {
  const target = status.targets.find((t) => t.name === UPDATE_MANIFEST_TARGET);
  if (!target) return undefined;
  const path = join(
    dir,
    'targets',
    status.consistentSnapshot ? `${target.sha256}.${UPDATE_MANIFEST_TARGET}` : UPDATE_MANIFEST_TARGET,
  );
  let bytes: Buffer;
  try {
    if ((await stat(path)).size !== target.length) throw new Error('size differs');
    bytes = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as Error).message === 'size differs') {
      throw changed(path);
    }
    throw toDroverError(error, 'reading the update manifest');
  }
  if (createHash('sha256').update(bytes).digest('hex') !== target.sha256) throw changed(path);
  try {
    return parseUpdateManifest(JSON.parse(bytes.toString('utf8')));
  } catch (error) {
    throw new DroverError('UPDATE_MANIFEST_INVALID', `the signed update manifest ${path} does not parse`, {
      hint: 'Fix it by hand and `drover repo add DIR manifest.json`, then retry.',
      cause: error,
    });
  }
}

function changed(path: string): DroverError {
  return new DroverError(
    'TUF_TARGET_HASH_MISMATCH',
    `${path} is missing or differs from the signed targets metadata`,
    {
      kind: 'integrity',
      hint: 'The repository was modified outside drover; restore targets/ from the last published copy.',
    },
  );
}

function usage(message: string): DroverError {
  return new DroverError('USAGE', message, {
    kind: 'usage',
    hint: 'Name the images with --image KIND=FILE (e.g. root=out/root.img) or --image-target KIND=NAME.',
  });
}
