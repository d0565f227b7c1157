import type { BigIntStats } from 'node:fs';

/**
 * One version of a file: device, inode, size, mtime and ctime (nanoseconds, from a `{ bigint: true }` stat).
 * Any write to the file changes its ctime, which user space cannot set back, so two equal identities mean the
 * same bytes (as far as the ctime tick of a few milliseconds resolves).
 */
export function fileIdentity(stats: BigIntStats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
}
