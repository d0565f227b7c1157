import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Context, toDroverError } from '@drover/core';
import { build } from './build.js';
import type {
  BuildOptions,
  ReproducibilityDifference,
  ReproducibilityReport,
  VariantBuild,
} from './types.js';

/** Offset of the first byte where two files differ, or undefined when they are equal. */
export async function firstDifference(a: string, b: string, ctx: Context = {}): Promise<number | undefined> {
  const open = (p: string) =>
    createReadStream(p, { highWaterMark: 1 << 20 })[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const ia = open(a);
  const ib = open(b);
  let bufA: Buffer = Buffer.alloc(0);
  let bufB: Buffer = Buffer.alloc(0);
  let offset = 0;
  let endA = false;
  let endB = false;
  try {
    for (;;) {
      if (ctx.signal?.aborted) throw toDroverError(ctx.signal.reason, 'comparing');
      if (bufA.length === 0 && !endA) {
        const r = await ia.next();
        if (r.done) endA = true;
        else bufA = r.value;
      }
      if (bufB.length === 0 && !endB) {
        const r = await ib.next();
        if (r.done) endB = true;
        else bufB = r.value;
      }
      if (bufA.length === 0 || bufB.length === 0) {
        return bufA.length === 0 && bufB.length === 0 && endA && endB ? undefined : offset;
      }
      const n = Math.min(bufA.length, bufB.length);
      const x = bufA.subarray(0, n);
      const y = bufB.subarray(0, n);
      if (!x.equals(y)) {
        for (let i = 0; i < n; i++) if (x[i] !== y[i]) return offset + i;
      }
      offset += n;
      bufA = bufA.subarray(n);
      bufB = bufB.subarray(n);
    }
  } finally {
    await ia.return?.();
    await ib.return?.();
  }
}

/** Compare two builds of the same variant: every artifact (by digest, then byte by byte) and image.json. */
export async function compareVariantBuilds(
  a: VariantBuild,
  b: VariantBuild,
  ctx: Context = {},
): Promise<{ compared: number; differences: ReproducibilityDifference[] }> {
  const differences: ReproducibilityDifference[] = [];
  let compared = 0;
  const byName = new Map(b.record.artifacts.map((x) => [x.name, x]));
  for (const artifact of a.record.artifacts) {
    compared++;
    const other = byName.get(artifact.name);
    if (!other) {
      differences.push({ variant: a.variant, artifact: artifact.name, path: artifact.path, offset: 0 });
      continue;
    }
    if (other.digest === artifact.digest && other.size === artifact.size) continue;
    const offset =
      (await firstDifference(join(a.outDir, artifact.path), join(b.outDir, other.path), ctx)) ??
      Math.min(artifact.size, other.size);
    differences.push({ variant: a.variant, artifact: artifact.name, path: artifact.path, offset });
  }
  compared++;
  const offset = await firstDifference(a.recordPath, b.recordPath, ctx);
  if (offset !== undefined) {
    differences.push({ variant: a.variant, artifact: 'record', path: 'image.json', offset });
  }
  return { compared, differences };
}

/**
 * Build twice — first normally (with the cache, into `outDir`), then with no cache into a fresh temporary
 * directory — and compare every artifact and image.json. The report names the first differing byte of each.
 */
export async function checkReproducible(
  options: BuildOptions & { keep?: boolean },
  ctx: Context = {},
): Promise<ReproducibilityReport> {
  const { keep, ...buildOptions } = options;
  const first = await build(buildOptions, ctx);
  const secondOutDir = await mkdtemp(join(tmpdir(), 'drover-repro-'));
  try {
    const second = await build(
      {
        ...buildOptions,
        noCache: true,
        // The same lock is reused (frozen), so nothing about the inputs can move between the two builds.
        frozen: true,
        outDir: secondOutDir,
      },
      ctx,
    );
    let compared = 0;
    const differences: ReproducibilityDifference[] = [];
    for (const a of first.builds) {
      const b = second.builds.find((x) => x.variant === a.variant);
      if (!b) continue;
      const result = await compareVariantBuilds(a, b, ctx);
      compared += result.compared;
      differences.push(...result.differences);
    }
    return { reproducible: differences.length === 0, first, secondOutDir, compared, differences };
  } finally {
    if (!keep) await rm(secondOutDir, { recursive: true, force: true });
  }
}
