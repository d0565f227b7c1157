/**
 * Benchmark for @drover/oci, against the reference tools in the same run:
 *  1. flattening a ~300 MB multi-layer gzip image into the tree vs `umoci unpack --rootless` of the same layout;
 *  2. pulling it from a local docker-registry into an OCI layout vs `skopeo copy`.
 * Usage: pnpm nx run @drover/oci:build && pnpm --filter @drover/bench exec tsx src/oci.ts [--size-mb 300] [--runs 5]
 *   [--only flatten|pull]
 * The drover side runs in a child process without NODE_EXTRA_CA_CERTS: when that variable is set (as on the
 * shared dev machines), Node parses the whole CA bundle at start-up (~0.15 s of CPU), which skopeo, a Go binary,
 * never pays for a plain-HTTP pull. Both the wall time (process start included) and the in-process time are shown.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openLayout, pushImage, type TarWriteEntry, writeImage } from '../../../packages/oci/src/index.js';
import { startTestRegistry } from '../../test-registry/src/index.js';

const exec = promisify(execFile);
const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SIZE_MB = opt('size-mb', 300);
const RUNS = opt('runs', 5);
const ONLY = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const LAYERS = 5;
const worker = fileURLToPath(new URL('./oci-worker.mjs', import.meta.url));

/** Pseudo-random, moderately compressible file contents (words from a small vocabulary plus random runs). */
function makeContent(size: number, seed: number): Buffer {
  const buf = Buffer.alloc(size);
  const noise = randomBytes(Math.min(size, 4096));
  let x = seed * 2654435761;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    buf[i] = (x >>> 16) % 4 === 0 ? noise[i % noise.length]! : 97 + ((x >>> 20) % 16);
  }
  return buf;
}

function* layerEntries(layer: number, bytes: number): Generator<TarWriteEntry> {
  let written = 0;
  let n = 0;
  yield { path: `layer${layer}/`, type: 'dir' };
  while (written < bytes) {
    // many small files, some medium, a few large: like a distro image
    const r = n % 100;
    const size = r < 80 ? 2_000 + ((n * 37) % 6_000) : r < 98 ? 40_000 + ((n * 91) % 200_000) : 2_000_000;
    const dir = `layer${layer}/d${Math.floor(n / 200)}`;
    if (n % 200 === 0) yield { path: `${dir}/`, type: 'dir' };
    yield {
      path: `${dir}/f${n}.dat`,
      type: 'file',
      content: makeContent(size, layer * 1_000_000 + n),
      mode: 0o644,
    };
    if (n % 50 === 0) yield { path: `${dir}/l${n}`, type: 'symlink', linkname: `f${n}.dat` };
    written += size;
    n++;
  }
  // whiteouts of a lower layer's files
  if (layer > 0)
    for (let i = 0; i < 100; i++)
      yield { path: `layer${layer - 1}/d0/.wh.f${i}.dat`, type: 'file', content: '' };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timed(cmd: string, argv: string[]): Promise<{ ms: number; maxRssKiB: number; cpuMs: number }> {
  const start = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M %U %S', cmd, ...argv], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  const ms = performance.now() - start;
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  const [rss, user, sys] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number) as [
    number,
    number,
    number,
  ];
  return { ms, maxRssKiB: rss, cpuMs: (user + sys) * 1000 };
}

interface DroverRun {
  /** In-process time of the operation. */
  ms: number;
  maxRssKiB: number;
  cpuMs: number;
  /** Wall time of the child process, start-up included. */
  wallMs: number;
}

async function drover(op: string, ...rest: string[]): Promise<DroverRun> {
  const { NODE_EXTRA_CA_CERTS: _unused, ...env } = process.env;
  const start = performance.now();
  // Peak RSS from /usr/bin/time, as for the reference tools: a child's own getrusage() maxRSS starts from the
  // RSS of the process that forked it (this one, which holds the generated image's metadata), not from zero.
  const { stdout, stderr } = await exec(
    '/usr/bin/time',
    ['-f', '%M', process.execPath, worker, op, ...rest],
    {
      maxBuffer: 1 << 24,
      env,
    },
  );
  const wallMs = performance.now() - start;
  const run = JSON.parse(stdout.trim().split('\n').pop()!) as Omit<DroverRun, 'wallMs'>;
  return { ...run, maxRssKiB: Number(stderr.trim().split('\n').pop()), wallMs };
}
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

const fmt = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const mib = (kib: number): string => `${(kib / 1024).toFixed(0)} MiB`;

const work = await mkdtemp(join(tmpdir(), 'drover-bench-oci-'));
const registry = await startTestRegistry();
try {
  const layoutDir = join(work, 'image');
  const layout = await openLayout({ dir: layoutDir, create: true });
  const t0 = performance.now();
  const perLayer = Math.floor((SIZE_MB << 20) / LAYERS);
  await writeImage({
    layout,
    tag: 'bench',
    layers: Array.from({ length: LAYERS }, (_, i) => ({ entries: layerEntries(i, perLayer), level: 1 })),
  });
  const image = await layout.resolveImage('bench');
  const compressed = image.manifest.layers.reduce((n, l) => n + l.size, 0);
  console.log(
    `image: ${LAYERS} gzip layers, ${SIZE_MB} MiB uncompressed, ${(compressed / 2 ** 20).toFixed(0)} MiB compressed (generated in ${fmt(performance.now() - t0)})`,
  );

  // 1. flatten vs umoci unpack --rootless
  const ours: DroverRun[] = [];
  const umoci: Array<{ ms: number; maxRssKiB: number }> = [];
  for (let run = 0; run < (ONLY === 'pull' ? 0 : RUNS); run++) {
    ours.push(await drover('flatten', layoutDir));
    const bundle = join(work, `bundle${run}`);
    umoci.push(await timed('umoci', ['unpack', '--rootless', '--image', `${layoutDir}:bench`, bundle]));
    await rm(bundle, { recursive: true, force: true });
  }
  const oursMs = ONLY === 'pull' ? 0 : median(ours.map((r) => r.wallMs));
  const umociMs = ONLY === 'pull' ? 0 : median(umoci.map((r) => r.ms));
  if (ONLY !== 'pull') {
    if (ONLY !== 'pull') console.log('\nflatten (wall time incl. process start, median of', RUNS, 'runs)');
    console.log(
      `  drover flattenImage   ${fmt(oursMs)}  (in-process ${fmt(median(ours.map((r) => r.ms)))})  peak RSS ${mib(Math.max(...ours.map((r) => r.maxRssKiB)))}`,
    );
    console.log(
      `  umoci unpack --rootless ${fmt(umociMs)}  peak RSS ${mib(Math.max(...umoci.map((r) => r.maxRssKiB)))}`,
    );
    console.log(`  speed-up: ${(umociMs / oursMs).toFixed(2)}x`);
  }
  if (ONLY !== 'flatten') {
    // 2. pull from a local registry vs skopeo copy
    await pushImage({
      layout: layoutDir,
      source: 'bench',
      reference: `${registry.host}/bench/image:1`,
      registry: { plainHttp: true, credentials: null },
    });
    const pulls: DroverRun[] = [];
    const skopeo: Array<{ ms: number; maxRssKiB: number; cpuMs: number }> = [];
    const loadBefore = load();
    for (let run = 0; run < RUNS; run++) {
      const a = join(work, `pull${run}`);
      const b = join(work, `skopeo${run}`);
      // alternate which tool goes first, so neither always runs right after the other
      if (run % 2 === 0) pulls.push(await drover('pull', `${registry.host}/bench/image:1`, a));
      skopeo.push(
        await timed('skopeo', [
          'copy',
          '-q',
          '--src-tls-verify=false',
          `docker://${registry.host}/bench/image:1`,
          `oci:${b}:1`,
        ]),
      );
      if (run % 2 === 1) pulls.push(await drover('pull', `${registry.host}/bench/image:1`, a));
      await rm(a, { recursive: true, force: true });
      await rm(b, { recursive: true, force: true });
    }
    for (let run = 0; run < RUNS; run++) {
      const d = pulls[run]!;
      const k = skopeo[run]!;
      console.log(
        `  run ${run + 1}: drover ${fmt(d.wallMs)} wall (${fmt(d.ms)} in-process, CPU ${fmt(d.cpuMs)}, RSS ${mib(d.maxRssKiB)}), skopeo ${fmt(k.ms)} (CPU ${fmt(k.cpuMs)})`,
      );
    }
    const pullMs = median(pulls.map((r) => r.wallMs));
    const pullInMs = median(pulls.map((r) => r.ms));
    const skopeoMs = median(skopeo.map((r) => r.ms));
    const mb = compressed / 2 ** 20;
    console.log(
      `\npull from local docker-registry into an OCI layout (median of ${RUNS} runs; load average before ${loadBefore}, after ${load()})`,
    );
    console.log(
      `  drover pullImage  ${fmt(pullMs)} wall (${fmt(pullInMs)} in-process)  ${(mb / (pullMs / 1000)).toFixed(0)} MiB/s  CPU ${fmt(median(pulls.map((r) => r.cpuMs)))}  peak RSS ${mib(Math.max(...pulls.map((r) => r.maxRssKiB)))}`,
    );
    console.log(
      `  skopeo copy       ${fmt(skopeoMs)} wall  ${(mb / (skopeoMs / 1000)).toFixed(0)} MiB/s  CPU ${fmt(median(skopeo.map((r) => r.cpuMs)))}  peak RSS ${mib(Math.max(...skopeo.map((r) => r.maxRssKiB)))}`,
    );
    console.log(
      `  throughput ratio drover/skopeo: ${(skopeoMs / pullMs).toFixed(2)}x wall, ${(skopeoMs / pullInMs).toFixed(2)}x in-process`,
    );
  }
} finally {
  await registry.stop();
  await rm(work, { recursive: true, force: true });
}
