// EROFS writer benchmark: drover's TypeScript writer vs mkfs.erofs on the same directory tree.
//
//   pnpm nx run @drover/image:build
//   pnpm --filter @drover/bench exec tsx src/erofs.ts [--mib 300] [--runs 3]
//
// Builds a deterministic tree under /tmp (many small files, some large ones, hardlinks and symlinks), then
// alternates runs of `mkfs.erofs` (uncompressed, fixed UUID and time) and drover's `writeErofs` (tree walk +
// write + fsync, in a `node` child on the built package), each under /usr/bin/time -v for wall time and peak
// RSS. Prints medians and the ratio.
import { execFile } from 'node:child_process';
import { link, mkdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Measure, median, timed } from './measure.js';

const run = promisify(execFile);

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

// The drover side runs in a plain `node` child on the built package (dist), so start-up is not tsx's.
const CHILD = `
const { erofsTreeFromDirectory, writeErofs } = await import('@drover/image');
const [src, out] = process.argv.slice(1);
const started = performance.now();
const root = await erofsTreeFromDirectory({ path: src });
const result = await writeErofs({ root, output: out, buildTime: { sec: 0 }, digest: false });
console.log(JSON.stringify({ ms: performance.now() - started, size: result.size, inodes: result.inodes }));
`;

function pattern(seed: number, length: number): Buffer {
  const out = Buffer.alloc(Math.ceil(length / 4) * 4);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  return out.subarray(0, length);
}

async function makeTree(src: string, targetBytes: number): Promise<{ files: number; bytes: number }> {
  await rm(src, { recursive: true, force: true });
  let files = 0;
  let bytes = 0;
  // 70% of the bytes in ~20 large files, the rest in small files spread over 200 directories.
  const large = Math.floor((targetBytes * 0.7) / 20);
  await mkdir(join(src, 'large'), { recursive: true });
  for (let i = 0; i < 20; i++) {
    await writeFile(join(src, 'large', `blob-${i}.bin`), pattern(i + 1, large + i * 777));
    files++;
    bytes += large + i * 777;
  }
  let seed = 1000;
  for (let d = 0; bytes < targetBytes; d++) {
    const dir = join(src, 'usr', `dir-${d % 200}`, `sub-${Math.floor(d / 200)}`);
    await mkdir(dir, { recursive: true });
    for (let f = 0; f < 50 && bytes < targetBytes; f++) {
      const size = (seed * 7919) % 24_000;
      await writeFile(join(dir, `file-${f}.dat`), pattern(seed++, size));
      files++;
      bytes += size;
    }
    await symlink(`../sub-0/file-0.dat`, join(dir, 'link'));
    if (d % 10 === 0) await link(join(dir, 'file-0.dat'), join(dir, 'hardlink'));
  }
  return { files, bytes };
}

async function main(): Promise<void> {
  const mib = arg('mib', 300);
  const runs = arg('runs', 3);
  const base = '/tmp/drover-bench-erofs';
  const src = join(base, 'src');
  const { files, bytes } = await makeTree(src, mib * 1024 * 1024);
  console.log(`tree: ${files} files, ${(bytes / 1024 / 1024).toFixed(0)} MiB`);
  const benchDir = fileURLToPath(new URL('..', import.meta.url));
  const ours: Measure[] = [];
  const theirs: Measure[] = [];
  const inner: number[] = [];
  try {
    for (let i = 0; i < runs + 1; i++) {
      // drover fsyncs its output before the atomic rename; mkfs.erofs does not, so `sync FILE` after it.
      const a = await timed('sh', [
        '-c',
        'mkfs.erofs -T0 -U 01234567-89ab-cdef-0123-456789abcdef "$1" "$2" >/dev/null && sync "$1"',
        'sh',
        join(base, 'mkfs.img'),
        src,
      ]);
      const b = await timed(
        'node',
        ['--input-type=module', '-e', CHILD, src, join(base, 'drover.img')],
        benchDir,
      );
      if (i === 0) continue; // warm-up: page cache
      theirs.push(a);
      ours.push(b);
      inner.push(JSON.parse(b.stdout.trim().split('\n').at(-1)!).ms / 1000);
    }
    await run('fsck.erofs', [join(base, 'drover.img')]);
    const sizeOurs = (await stat(join(base, 'drover.img'))).size;
    const sizeTheirs = (await stat(join(base, 'mkfs.img'))).size;
    const mo = median(ours.map((m) => m.seconds));
    const mt = median(theirs.map((m) => m.seconds));
    console.log(`runs: ${runs} (after one warm-up), medians:`);
    console.log(
      `mkfs.erofs 1.5+sync ${mt.toFixed(2)} s   peak RSS ${median(theirs.map((m) => m.rssMiB)).toFixed(0)} MiB   image ${(sizeTheirs / 1048576).toFixed(1)} MiB`,
    );
    console.log(
      `drover writeErofs   ${mo.toFixed(2)} s   peak RSS ${median(ours.map((m) => m.rssMiB)).toFixed(0)} MiB   image ${(sizeOurs / 1048576).toFixed(1)} MiB   (in-process ${median(inner).toFixed(2)} s)`,
    );
    console.log(
      `ratio drover/mkfs   ${(mo / mt).toFixed(2)}x wall, ${(median(inner) / mt).toFixed(2)}x in-process`,
    );
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

await main();
