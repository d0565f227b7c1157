import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const VERITYSETUP = '/usr/sbin/veritysetup';

/** Run veritysetup; resolves with stdout, exit code and stderr (never rejects on a non-zero exit). */
export async function veritysetup(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(VERITYSETUP, args, { maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** The value of a `Name: value` line of veritysetup's output. */
export function field(stdout: string, name: string): string | undefined {
  const line = stdout.split('\n').find((l) => l.startsWith(`${name}:`));
  return line?.slice(name.length + 1).trim();
}

/** A scratch directory removed by the returned function. */
export async function scratchDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'drover-verity-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Write `size` bytes of random data, optionally with runs of zeros so blocks repeat. */
export async function randomFile(path: string, size: number, seed = 0): Promise<void> {
  const bytes = randomBytes(size);
  if (seed % 3 === 0) bytes.fill(0, 0, Math.floor(size / 2));
  await writeFile(path, bytes);
}
