import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isDroverError } from '@drover/core';
import { afterEach } from 'vitest';

const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A temporary folder with the given files (removed after the test). */
export async function fixture(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'drover-recipe-'));
  dirs.push(dir);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  return dir;
}

/** A recipe header every valid test recipe starts with. */
export const HEADER = `apiVersion: drover.dev/v1
kind: Recipe
metadata:
  name: test
  version: 1.0.0
base:
  layout: ../base
`;

/** Run `fn`, expect it to throw a DroverError with `code`, and return it. */
export async function expectDroverError(fn: () => Promise<unknown>, code: string) {
  let caught: unknown;
  try {
    await fn();
  } catch (error) {
    caught = error;
  }
  if (!isDroverError(caught, code)) {
    throw new Error(
      `expected DroverError ${code}, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`,
    );
  }
  return caught;
}
