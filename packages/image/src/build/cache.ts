import { createHash, randomBytes } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import {
  chmod,
  copyFile,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type Context, canonicalJson, DroverError, throwIfAborted, toDroverError } from '@drover/core';

/** Where the step cache lives by default: `$XDG_CACHE_HOME/drover`, else `~/.cache/drover`. */
export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), '.cache'), 'drover');
}

/** The cache key of a step: SHA-256 (hex) over the step's name, its version and its canonical inputs. */
export function stepKey(step: string, version: number, inputs: unknown): string {
  return createHash('sha256')
    .update(`drover-build-step/v1\0${step}\0${version}\0${canonicalJson(inputs)}`)
    .digest('hex');
}

/** A complete, immutable cache entry: a directory of files plus the step's metadata. */
export interface CacheEntry<M> {
  dir: string;
  meta: M;
}

const META = 'entry.json';

/**
 * A content-addressed step cache: `<dir>/steps/<step>/<key>/` holds the step's output files and `entry.json`.
 * Entries are filled in `<dir>/tmp/` and renamed into place when complete, so a reader only ever sees whole
 * entries; they are never changed afterwards (files are made read-only, because outputs may be hard links).
 */
export class StepCache {
  readonly dir: string;
  /** When false, lookups always miss (`--no-cache`); entries are still written, to a throwaway directory. */
  readonly readable: boolean;

  constructor(dir: string, options: { readable?: boolean } = {}) {
    this.dir = dir;
    this.readable = options.readable ?? true;
  }

  entryDir(step: string, key: string): string {
    return join(this.dir, 'steps', step, key);
  }

  /** The entry for a key, or undefined (a miss, or `readable` is false, or the entry is damaged). */
  async get<M>(step: string, key: string): Promise<CacheEntry<M> | undefined> {
    if (!this.readable) return undefined;
    const dir = this.entryDir(step, key);
    let text: string;
    try {
      text = await readFile(join(dir, META), 'utf8');
    } catch {
      return undefined;
    }
    let parsed: { files: Record<string, number>; mtimes?: Record<string, number>; meta: M };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      return undefined;
    }
    // Cheap integrity check: every file the entry lists is present with its size and modification time. Outputs
    // may be hard links to these files, and root ignores their read-only mode: a file changed through an output
    // gets a new mtime, and the entry is dropped rather than served.
    for (const [name, size] of Object.entries(parsed.files ?? {})) {
      const info = await stat(join(dir, name)).catch(() => undefined);
      const mtime = parsed.mtimes?.[name];
      if (!info || info.size !== size || (mtime !== undefined && info.mtimeMs !== mtime)) {
        await rm(dir, { recursive: true, force: true }).catch(() => undefined);
        return undefined;
      }
    }
    return { dir, meta: parsed.meta };
  }

  /**
   * Run `fill` in a fresh temporary directory and publish its files and the returned metadata as the entry for
   * `key`. If another build published the same key meanwhile, its (identical) entry is kept.
   */
  async put<M>(
    step: string,
    key: string,
    fill: (dir: string) => Promise<M>,
    ctx: Context = {},
  ): Promise<CacheEntry<M>> {
    const tmpRoot = join(this.dir, 'tmp');
    await mkdir(tmpRoot, { recursive: true }).catch((error: unknown) => {
      throw toDroverError(error, `creating cache directory ${tmpRoot}`);
    });
    const tmp = join(tmpRoot, `${step}-${key.slice(0, 12)}-${randomBytes(6).toString('hex')}`);
    await mkdir(tmp);
    try {
      const meta = await fill(tmp);
      throwIfAborted(ctx);
      const files: Record<string, number> = {};
      const mtimes: Record<string, number> = {};
      for (const name of (await readdir(tmp)).sort()) {
        const path = join(tmp, name);
        if (!(await stat(path)).isFile()) continue;
        await syncFile(path);
        await chmod(path, 0o444);
        const info = await stat(path);
        files[name] = info.size;
        mtimes[name] = info.mtimeMs;
      }
      await writeFile(join(tmp, META), `${JSON.stringify({ step, key, files, mtimes, meta }, null, 2)}\n`);
      await syncFile(join(tmp, META));
      const final = this.entryDir(step, key);
      await mkdir(join(this.dir, 'steps', step), { recursive: true });
      try {
        await rename(tmp, final);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
        // Someone else published this key first; entries are immutable and equal, keep theirs.
        await rm(tmp, { recursive: true, force: true });
      }
      return { dir: final, meta };
    } catch (error) {
      await rm(tmp, { recursive: true, force: true });
      throw toDroverError(error, `cache step ${step}`);
    }
  }
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** How {@link placeFile} put a file in place. */
export type PlaceMethod = 'reflink' | 'hardlink' | 'copy';

/**
 * Put `source` (an immutable cache file) at `target` without copying bytes when possible: a reflink (copy on
 * write), else a hard link, else a sparse copy (all-zero blocks become holes). `target` must not exist.
 */
export async function placeFile(source: string, target: string, ctx: Context = {}): Promise<PlaceMethod> {
  try {
    await copyFile(source, target, constants.COPYFILE_FICLONE_FORCE | constants.COPYFILE_EXCL);
    await chmod(target, 0o644);
    return 'reflink';
  } catch {
    // Not supported by this filesystem (or across filesystems): try a hard link.
  }
  try {
    await link(source, target);
    return 'hardlink';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK' && code !== 'ENOTSUP') {
      throw toDroverError(error, `linking ${target}`);
    }
  }
  await copySparse(source, target, ctx);
  return 'copy';
}

const CHUNK = 1 << 20;

/** Copy a file, leaving holes where the source has all-zero 1 MiB chunks (disks stay sparse). */
export async function copySparse(source: string, target: string, ctx: Context = {}): Promise<void> {
  const info = await stat(source).catch((error: unknown) => {
    throw toDroverError(error, `copying ${source}`);
  });
  const out = await open(target, 'wx', 0o644).catch((error: unknown) => {
    throw toDroverError(error, `creating ${target}`);
  });
  try {
    let position = 0;
    const zero = Buffer.alloc(CHUNK);
    for await (const chunk of createReadStream(source, { highWaterMark: CHUNK }) as AsyncIterable<Buffer>) {
      throwIfAborted(ctx);
      const isZero = chunk.length === CHUNK ? chunk.equals(zero) : chunk.every((b) => b === 0);
      if (!isZero) {
        let done = 0;
        while (done < chunk.length) {
          const { bytesWritten } = await out.write(chunk, done, chunk.length - done, position + done);
          done += bytesWritten;
        }
      }
      position += chunk.length;
    }
    await out.truncate(info.size);
  } catch (error) {
    await out.close();
    await rm(target, { force: true });
    throw error instanceof DroverError ? error : toDroverError(error, `copying ${source}`);
  }
  await out.close();
}
