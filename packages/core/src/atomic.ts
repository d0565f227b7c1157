import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { toDroverError } from './error.js';

/** The temporary sibling a partial output is written to: same directory (so rename is atomic), hidden name. */
export function temporaryPathFor(finalPath: string): string {
  return join(dirname(finalPath), `.${basename(finalPath)}.${randomBytes(6).toString('hex')}.partial`);
}

/**
 * Produce `finalPath` atomically: `write` fills a temporary sibling, which is fsynced and renamed over
 * `finalPath` only if `write` succeeds. On failure or abort the temporary file is removed and any existing
 * `finalPath` is untouched, so readers never see a half-written output.
 */
export async function writeAtomically<R>(
  finalPath: string,
  write: (temporaryPath: string) => Promise<R>,
): Promise<R> {
  const temporary = temporaryPathFor(finalPath);
  try {
    const result = await write(temporary);
    const handle = await open(temporary, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, finalPath);
    return result;
  } catch (error) {
    await rm(temporary, { force: true });
    throw toDroverError(error, `writing ${finalPath}`);
  }
}
