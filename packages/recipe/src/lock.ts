import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import {
  type Context,
  type DigestString,
  DroverError,
  digestFile,
  resolveContext,
  throwIfAborted,
  toDroverError,
  writeAtomically,
} from '@drover/core';
import { loadRecipe } from './load.js';
import { formatPath } from './problems.js';
import type {
  BaseLock,
  LockChange,
  Lockfile,
  LockRecipeOptions,
  LockResult,
  ResolvedBase,
  SourceLock,
} from './types.js';

/** The lockfile's name, next to the recipe. */
export const LOCKFILE_NAME = 'drover.lock';

/**
 * Pin everything a build reads — base image digest per variant, a digest of every local source the layers
 * copy, and the effective sourceDateEpoch — into `drover.lock`. With `frozen`, nothing is written and a
 * missing or stale lock fails with `RECIPE_LOCK_STALE` and the diff.
 */
export async function lockRecipe(options: LockRecipeOptions, ctx: Context = {}): Promise<LockResult> {
  const log = resolveContext(ctx).logger;
  const loaded = await loadRecipe({ path: options.path, set: options.set, env: options.env }, ctx);
  const recipeDir = dirname(loaded.file);
  const lockPath = options.lockPath ?? join(recipeDir, LOCKFILE_NAME);
  const existing = await readLockfile(lockPath);
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const fallbackEpoch = existing ? Object.values(existing.variants)[0]?.sourceDateEpoch : undefined;

  const sourceCache = new Map<string, Promise<SourceLock>>();
  const baseCache = new Map<string, Promise<BaseLock>>();
  const sources: Record<string, SourceLock> = {};
  const variants: Lockfile['variants'] = {};
  for (const recipe of loaded.recipes) {
    throwIfAborted(ctx);
    const platform = [
      recipe.base.platform.os,
      recipe.base.platform.architecture,
      recipe.base.platform.variant,
    ]
      .filter(Boolean)
      .join('/');
    const baseKey = `${recipe.base.type}\0${recipe.base.type === 'registry' ? recipe.base.ref : recipe.base.path}\0${platform}\0${'ref' in recipe.base ? (recipe.base.ref ?? '') : ''}`;
    let basePromise = baseCache.get(baseKey);
    if (basePromise === undefined) {
      basePromise = lockBase(recipe.base, platform, options, ctx);
      baseCache.set(baseKey, basePromise);
    }
    const base = await basePromise;
    if (base.digest === undefined) {
      log.warn(`base ${base.location} is not pinned to a digest`, { variant: recipe.id });
    }
    const used: string[] = [];
    for (const layer of recipe.layers) {
      if (layer.type !== 'copy' && layer.type !== 'template') continue;
      const key = relative(recipeDir, layer.source).split(sep).join('/');
      let p = sourceCache.get(layer.source);
      if (p === undefined) {
        p = digestSource(layer.source, ctx);
        sourceCache.set(layer.source, p);
      }
      sources[key] = await p;
      if (!used.includes(key)) used.push(key);
    }
    variants[recipe.id] = {
      base,
      sourceDateEpoch:
        recipe.filesystem.sourceDateEpoch ??
        existing?.variants[recipe.id]?.sourceDateEpoch ??
        fallbackEpoch ??
        now,
      sources: used.sort(),
    };
  }
  const lock: Lockfile = {
    lockVersion: 1,
    recipe: relative(dirname(lockPath), loaded.file).split(sep).join('/'),
    variants: sortKeys(variants),
    sources: sortKeys(sources),
  };
  const changes = diffLockfiles(existing, lock);
  const upToDate = existing !== undefined && changes.length === 0;
  if (options.frozen) {
    if (existing === undefined) {
      throw new DroverError('RECIPE_LOCK_MISSING', `--frozen: no lockfile at ${lockPath}`, {
        kind: 'not-found',
        hint: 'Run `drover recipe lock` and commit drover.lock.',
        details: { lockPath },
      });
    }
    if (!upToDate) {
      throw new DroverError(
        'RECIPE_LOCK_STALE',
        `--frozen: ${lockPath} is out of date:\n${formatLockChanges(changes)}`,
        {
          kind: 'conflict',
          hint: 'Run `drover recipe lock` to update it, review the diff and commit it.',
          details: { lockPath, changes },
        },
      );
    }
    return { lockPath, lock, changes, written: false, upToDate };
  }
  const write = options.write ?? true;
  let written = false;
  if (write && !upToDate) {
    await writeAtomically(lockPath, async (tmp) => {
      await writeFile(tmp, serializeLockfile(lock));
    });
    written = true;
  }
  return { lockPath, lock, changes, written, upToDate };
}

/** The lockfile as written to disk: stable key order, two-space JSON, trailing newline. */
export function serializeLockfile(lock: Lockfile): string {
  return `${JSON.stringify(lock, null, 2)}\n`;
}

/** Read and check `drover.lock`; undefined when it does not exist. */
export async function readLockfile(path: string): Promise<Lockfile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw toDroverError(error, 'reading lockfile');
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new DroverError('RECIPE_LOCK_INVALID', `${path} is not valid JSON`, {
      hint: 'Delete it and run `drover recipe lock` again.',
      cause: error,
    });
  }
  const d = data as Partial<Lockfile> | null;
  if (
    typeof d !== 'object' ||
    d === null ||
    d.lockVersion !== 1 ||
    typeof d.variants !== 'object' ||
    typeof d.sources !== 'object'
  ) {
    throw new DroverError('RECIPE_LOCK_INVALID', `${path} is not a drover lockfile (lockVersion 1)`, {
      hint: 'Delete it and run `drover recipe lock` again.',
    });
  }
  return d as Lockfile;
}

/** Leaf-by-leaf differences between two lockfiles. */
export function diffLockfiles(before: Lockfile | undefined, after: Lockfile): LockChange[] {
  const a = new Map<string, unknown>();
  const b = new Map<string, unknown>();
  if (before) flatten({ variants: before.variants, sources: before.sources }, [], a);
  flatten({ variants: after.variants, sources: after.sources }, [], b);
  const changes: LockChange[] = [];
  for (const [path, value] of b) {
    if (!a.has(path)) changes.push({ path, change: 'added', after: value });
    else if (JSON.stringify(a.get(path)) !== JSON.stringify(value))
      changes.push({ path, change: 'changed', before: a.get(path), after: value });
  }
  for (const [path, value] of a) if (!b.has(path)) changes.push({ path, change: 'removed', before: value });
  return changes.sort((x, y) => x.path.localeCompare(y.path));
}

/** One line per change: `~ path: before -> after`, `+ path: value`, `- path: value`. */
export function formatLockChanges(changes: LockChange[]): string {
  return changes
    .map((c) =>
      c.change === 'changed'
        ? `  ~ ${c.path}: ${show(c.before)} -> ${show(c.after)}`
        : c.change === 'added'
          ? `  + ${c.path}: ${show(c.after)}`
          : `  - ${c.path}: ${show(c.before)}`,
    )
    .join('\n');
}

function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function flatten(value: unknown, path: (string | number)[], into: Map<string, unknown>): void {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, [...path, k], into);
  } else {
    into.set(formatPath(path), value);
  }
}

function sortKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(
    Object.keys(record)
      .sort()
      .map((k) => [k, record[k]!]),
  );
}

async function lockBase(
  base: ResolvedBase,
  platform: string,
  options: LockRecipeOptions,
  ctx: Context,
): Promise<BaseLock> {
  const location = base.type === 'registry' ? base.ref : base.location;
  const fromResolver = await options.resolver?.resolve(base, ctx);
  if (fromResolver !== undefined) return fromResolver;
  switch (base.type) {
    case 'registry': {
      const at = base.ref.indexOf('@');
      return at < 0
        ? { type: 'registry', location, platform }
        : {
            type: 'registry',
            location,
            platform,
            digest: base.ref.slice(at + 1) as DigestString,
            digestOf: 'manifest',
          };
    }
    case 'layout': {
      const index = join(base.path, 'index.json');
      const { digest } = await digestOrMissing(index, base, ctx);
      return {
        type: 'layout',
        location,
        platform,
        digest,
        digestOf: 'index.json',
        ...(base.ref ? { ref: base.ref } : {}),
      };
    }
    case 'directory': {
      await assertExists(base);
      return {
        type: 'directory',
        location,
        platform,
        digest: await digestTree(base.path, ctx),
        digestOf: 'tree',
      };
    }
    case 'tar': {
      const { digest } = await digestOrMissing(base.path, base, ctx);
      return { type: 'tar', location, platform, digest, digestOf: 'file' };
    }
  }
}

function baseMissing(base: ResolvedBase & { path: string }, cause: unknown): DroverError {
  return new DroverError('RECIPE_BASE_NOT_FOUND', `base ${base.type} not found: ${base.path}`, {
    kind: 'not-found',
    hint:
      base.type === 'layout'
        ? 'Create the OCI layout (e.g. `skopeo copy docker://… oci:<dir>`) or fix base.layout; paths are relative to the recipe.'
        : `Fix base.${base.type}; paths are relative to the recipe that names them.`,
    cause,
  });
}

async function assertExists(base: ResolvedBase & { path: string }): Promise<void> {
  try {
    await lstat(base.path);
  } catch (error) {
    throw baseMissing(base, error);
  }
}

async function digestOrMissing(path: string, base: ResolvedBase & { path: string }, ctx: Context) {
  try {
    return { digest: await digestRegularFile(path, ctx) };
  } catch (error) {
    if ((error as DroverError).code === 'FILE_NOT_FOUND') throw baseMissing(base, error);
    throw error;
  }
}

/** Digest a regular file; devices and FIFOs are refused (they may never end). */
async function digestRegularFile(path: string, ctx: Context): Promise<DigestString> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    throw toDroverError(error, 'locking');
  }
  if (!info.isFile()) {
    throw new DroverError('RECIPE_SOURCE_INVALID', `${path} is not a regular file or directory`, {
      hint: 'Sources and bases are files or directories next to the recipe.',
    });
  }
  return (await digestFile(path, { progress: false }, ctx)).digest;
}

async function digestSource(path: string, ctx: Context): Promise<SourceLock> {
  let info: Awaited<ReturnType<typeof lstat>>;
  try {
    info = await stat(path);
  } catch (error) {
    throw toDroverError(error, 'locking source');
  }
  if (info.isDirectory()) return { kind: 'directory', digest: await digestTree(path, ctx) };
  return { kind: 'file', digest: await digestRegularFile(path, ctx) };
}

/**
 * Digest of a directory tree: one line per entry, sorted by path — `d path`, `f path x|- <digest>`,
 * `l path <target>` — hashed together. Only the executable bit is included (what git keeps), so the digest
 * is the same in every checkout; owners and modes inside the image come from the recipe.
 */
export async function digestTree(root: string, ctx: Context = {}): Promise<DigestString> {
  const hash = createHash('sha256');
  const walk = async (dir: string, prefix: string): Promise<void> => {
    throwIfAborted(ctx);
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (error) {
      throw toDroverError(error, 'digesting directory');
    }
    for (const name of names) {
      const full = join(dir, name);
      const rel = prefix === '' ? name : `${prefix}/${name}`;
      const info = await lstat(full);
      if (info.isDirectory()) {
        hash.update(`d ${JSON.stringify(rel)}\n`);
        await walk(full, rel);
      } else if (info.isSymbolicLink()) {
        hash.update(`l ${JSON.stringify(rel)} ${JSON.stringify(await readlink(full))}\n`);
      } else if (info.isFile()) {
        const { digest } = await digestFile(full, { progress: false }, ctx);
        hash.update(`f ${JSON.stringify(rel)} ${info.mode & 0o111 ? 'x' : '-'} ${digest}\n`);
      } else {
        hash.update(`o ${JSON.stringify(rel)}\n`);
      }
    }
  };
  await walk(root, '');
  return `sha256:${hash.digest('hex')}`;
}
