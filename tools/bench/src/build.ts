// Build pipeline benchmark: `drover build` vs the C-tool pipeline a user would script, from the same OCI layout
// to an A/B dm-verity disk.
//
//   pnpm nx run @drover/image:build
//   pnpm --filter @drover/bench exec tsx src/build.ts [--mib 300] [--layers 4] [--runs 3] [--profile DIR]
//
// `--profile DIR` runs only one drover build, under `node --cpu-prof --cpu-prof-dir DIR` (main thread and
// workers), prints its steps and keeps /tmp/drover-bench-build and the child script (.build-child.mjs) for
// reruns by hand: for finding where the time goes, not for comparing.
//
// 1. Writes a deterministic ~300 MiB multi-layer OCI layout with drover's own OCI writer (gzip level 1), plus
//    a recipe on top of it (one file layer, erofs, verity, `ab` disk, output `disk`).
// 2. Alternates runs of
//    - C pipeline: `umoci unpack` → `mkfs.erofs` → `veritysetup format` → `truncate` + `sgdisk` (the same 10
//      partitions) → `dd conv=sparse,notrunc` of root and hash into bank A → `sync`;
//    - the same plus `sha256sum disk.img` (drover records the digest of every artifact, the C pipeline does not);
//    - drover: `build({ noCache: true })` in a plain `node` child on the built package (flatten, layers,
//      normalize, EROFS, file manifest + SBOM, verity, disk, digests, image.json).
//    each under /usr/bin/time -v (wall time, peak RSS); one warm-up round, then medians.
// 3. Times a no-change rebuild (cache warm) in-process and as a whole `node` child.
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openLayout, type TarWriteEntry, writeImage } from '@drover/oci';
import { type Measure, median, timed } from './measure.js';

const run = promisify(execFile);

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const CHILD = `
const { build } = await import('@drover/image');
const [recipe, outDir, cacheDir, noCache] = process.argv.slice(2);
const started = performance.now();
const result = await build({ recipe, outDir, cacheDir, noCache: noCache === '1' });
const b = result.builds[0];
console.log(JSON.stringify({ ms: performance.now() - started, steps: b.steps, rootHash: b.record.verity.rootHash }));
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

/** One layer's entries: ~30% of the bytes in 5 large files, the rest in 0–24 KB files over 50 directories. */
function layerEntries(layer: number, bytes: number): TarWriteEntry[] {
  const entries: TarWriteEntry[] = [];
  const dirs = new Set<string>();
  const dir = (path: string) => {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        entries.push({ path: `${d}/`, type: 'dir', mode: 0o755, mtime: 1_700_000_000 });
      }
    }
  };
  const file = (path: string, seed: number, size: number) => {
    dir(path);
    entries.push({
      path,
      type: 'file',
      mode: 0o644,
      mtime: 1_700_000_000,
      size,
      open: () => Readable.from([pattern(seed, size)]),
    });
  };
  let total = 0;
  const large = Math.floor((bytes * 0.3) / 5);
  for (let i = 0; i < 5; i++) {
    file(`opt/layer${layer}/blob-${i}.bin`, layer * 1000 + i + 1, large);
    total += large;
  }
  let seed = layer * 1_000_000;
  for (let n = 0; total < bytes; n++) {
    const size = (seed * 7919) % 24_000;
    file(`usr/lib/l${layer}/dir-${n % 50}/file-${n}.dat`, seed++, size);
    total += size;
  }
  return entries;
}

const MiB = 1024 * 1024;
// Partition sizes shared by the recipe and the sgdisk script (MiB).
const P = { boot: 1, root: 384, hash: 8, reserved: 1, private: 1, data: 16 };

/** The C pipeline as a shell script: $1 layout dir, $2 work dir. */
const C_PIPELINE = String.raw`
set -e
L="$1"; W="$2"
rm -rf "$W"; mkdir -p "$W"
umoci unpack --rootless --image "$L:latest" "$W/bundle" >/dev/null
mkfs.erofs -T1700000000 -U 01234567-89ab-cdef-0123-456789abcdef "$W/root.img" "$W/bundle/rootfs" >/dev/null
veritysetup format "$W/root.img" "$W/hash.img" --salt=00112233 --uuid=01234567-89ab-cdef-0123-456789abcdef >/dev/null
M=1048576
truncate -s $(( (1 + 2*(${P.boot}+${P.root}+${P.hash}+${P.reserved}) + ${P.private} + ${P.data} + 1) * M )) "$W/disk.img"
sgdisk -Z "$W/disk.img" >/dev/null 2>&1 || true
args=""
n=1
for bank in A B; do
  args="$args -n $n:0:+${P.boot}M -c $n:BOOT-$bank";     n=$((n+1))
  args="$args -n $n:0:+${P.root}M -c $n:ROOT-$bank";     n=$((n+1))
  args="$args -n $n:0:+${P.hash}M -c $n:HASH-$bank";     n=$((n+1))
  args="$args -n $n:0:+${P.reserved}M -c $n:RESERVED-$bank"; n=$((n+1))
done
args="$args -n $n:0:+${P.private}M -c $n:PRIVATE"; n=$((n+1))
args="$args -n $n:0:+${P.data}M -c $n:DATA"
sgdisk $args -A 1:set:56 "$W/disk.img" >/dev/null
root_start=$(sgdisk -i 2 "$W/disk.img" | sed -n 's/^First sector: \([0-9]*\).*/\1/p')
hash_start=$(sgdisk -i 3 "$W/disk.img" | sed -n 's/^First sector: \([0-9]*\).*/\1/p')
dd if="$W/root.img" of="$W/disk.img" bs=512 seek="$root_start" conv=sparse,notrunc status=none
dd if="$W/hash.img" of="$W/disk.img" bs=512 seek="$hash_start" conv=sparse,notrunc status=none
sync "$W/disk.img" "$W/root.img" "$W/hash.img"
if [ "$3" = digest ]; then sha256sum "$W/disk.img" >/dev/null; fi
`;

async function main(): Promise<void> {
  const mib = arg('mib', 300);
  const layers = arg('layers', 4);
  const runs = arg('runs', 3);
  const base = '/tmp/drover-bench-build';
  await rm(base, { recursive: true, force: true });
  await mkdir(base, { recursive: true });
  const benchDir = fileURLToPath(new URL('..', import.meta.url));
  try {
    const t0 = performance.now();
    const layout = await openLayout({ dir: join(base, 'layout'), create: true });
    await writeImage({
      layout,
      layers: Array.from({ length: layers }, (_, i) => ({
        entries: layerEntries(i, Math.floor((mib * MiB) / layers)),
        level: 1,
      })),
      tag: 'latest',
    });
    const { stdout: du } = await run('du', ['-sm', join(base, 'layout')]);
    console.log(
      `layout: ${layers} layers, ${mib} MiB of files, ${du.split('\t')[0]} MiB on disk (written in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    // A file, not `node -e`: with --input-type=module, eval'd worker threads would also be parsed as ESM.
    const childPath = join(benchDir, '.build-child.mjs');
    await writeFile(childPath, CHILD);
    const recipe = join(base, 'recipe', 'recipe.yaml');
    await mkdir(join(base, 'recipe'));
    await writeFile(
      recipe,
      [
        'apiVersion: drover.dev/v1',
        'kind: Recipe',
        'metadata: { name: bench, version: 1.0.0 }',
        'base: { layout: ../layout, platform: linux/amd64 }',
        'layers:',
        '  - file: { path: /etc/motd, content: "hello\\n" }',
        'filesystem: { type: erofs, sourceDateEpoch: 1700000000 }',
        'verity: { algorithm: sha256 }',
        'disk:',
        '  layout: ab',
        `  size: ${1 + 2 * (P.boot + P.root + P.hash + P.reserved) + P.private + P.data + 1}MiB`,
        `  partitions: { boot: ${P.boot}MiB, root: ${P.root}MiB, hash: ${P.hash}MiB, reserved: ${P.reserved}MiB, private: ${P.private}MiB }`,
        '  data: { size: rest, filesystem: ext4, label: DATA }',
        'outputs: [disk]',
        '',
      ].join('\n'),
    );

    const profileAt = process.argv.indexOf('--profile');
    if (profileAt >= 0) {
      const dir = process.argv[profileAt + 1] ?? '/tmp/drover-build-profile';
      const p = await timed(
        'node',
        [
          '--cpu-prof',
          `--cpu-prof-dir=${dir}`,
          childPath,
          recipe,
          join(base, 'out'),
          join(base, 'cache-nc'),
          '1',
        ],
        benchDir,
      );
      const parsed = JSON.parse(p.stdout.trim().split('\n').at(-1)!);
      console.log(`drover build (profiled): ${p.seconds.toFixed(2)} s, peak RSS ${p.rssMiB.toFixed(0)} MiB`);
      console.log(
        `steps (wall / CPU of all threads): ${parsed.steps.map((s: { name: string; durationMs: number; cpuMs?: number }) => `${s.name} ${(s.durationMs / 1000).toFixed(2)}/${((s.cpuMs ?? 0) / 1000).toFixed(2)}s`).join(', ')}`,
      );
      console.log(`profiles in ${dir}`);
      return;
    }

    const c: Measure[] = [];
    const cd: Measure[] = [];
    const d: Measure[] = [];
    const inner: number[] = [];
    let steps: { name: string; durationMs: number; cpuMs?: number }[] = [];
    for (let i = 0; i < runs + 1; i++) {
      const a = await timed('sh', ['-c', C_PIPELINE, 'sh', join(base, 'layout'), join(base, 'c')]);
      const ad = await timed('sh', ['-c', C_PIPELINE, 'sh', join(base, 'layout'), join(base, 'c'), 'digest']);
      await rm(join(base, 'c'), { recursive: true, force: true });
      await rm(join(base, 'out'), { recursive: true, force: true });
      const b = await timed(
        'node',
        [childPath, recipe, join(base, 'out'), join(base, 'cache-nc'), '1'],
        benchDir,
      );
      if (i === 0) continue;
      c.push(a);
      cd.push(ad);
      d.push(b);
      const parsed = JSON.parse(b.stdout.trim().split('\n').at(-1)!);
      inner.push(parsed.ms / 1000);
      steps = parsed.steps;
    }

    // No-change rebuild: populate the cache, then time a second build (in-process and the whole node child).
    await rm(join(base, 'out'), { recursive: true, force: true });
    await timed('node', [childPath, recipe, join(base, 'out'), join(base, 'cache'), '0'], benchDir);
    const rebuilds: Measure[] = [];
    const rebuildInner: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = await timed(
        'node',
        [childPath, recipe, join(base, 'out'), join(base, 'cache'), '0'],
        benchDir,
      );
      rebuilds.push(r);
      rebuildInner.push(JSON.parse(r.stdout.trim().split('\n').at(-1)!).ms / 1000);
    }

    const row = (name: string, ms: Measure[]) =>
      `${name.padEnd(46)} ${median(ms.map((m) => m.seconds))
        .toFixed(2)
        .padStart(7)} s   peak RSS ${median(ms.map((m) => m.rssMiB))
        .toFixed(0)
        .padStart(4)} MiB`;
    console.log(`runs: ${runs} (after one warm-up), medians:`);
    console.log(row('C pipeline (umoci+mkfs.erofs+veritysetup+sgdisk)', c));
    console.log(row('C pipeline + sha256sum disk.img', cd));
    console.log(
      `${row('drover build --no-cache (node child)', d)}   (in-process ${median(inner).toFixed(2)} s)`,
    );
    console.log(
      `ratio C/drover: ${(median(c.map((m) => m.seconds)) / median(d.map((m) => m.seconds))).toFixed(2)}x (plain), ${(median(cd.map((m) => m.seconds)) / median(d.map((m) => m.seconds))).toFixed(2)}x (with digest)`,
    );
    console.log(
      `drover steps (last run, wall / CPU of all threads): ${steps.map((s) => `${s.name} ${(s.durationMs / 1000).toFixed(2)}/${((s.cpuMs ?? 0) / 1000).toFixed(2)}s`).join(', ')}`,
    );
    console.log(
      `${row('no-change rebuild (node child)', rebuilds)}   (in-process ${median(rebuildInner).toFixed(3)} s)`,
    );
  } finally {
    // a profiling run keeps its input and child script, to rerun the child by hand
    if (!process.argv.includes('--profile')) {
      await rm(base, { recursive: true, force: true });
      await rm(join(benchDir, '.build-child.mjs'), { force: true });
    }
  }
}

await main();
