/**
 * dm-verity benchmark: drover (`@drover/verity`, built dist, one process per run) against veritysetup on the same
 * files in the same run. Measures format, verify and format with FEC; prints medians, throughput ratios
 * (veritysetup time / drover time, so > 1 means drover is faster) and peak RSS.
 *
 *   pnpm nx run @drover/verity:build
 *   pnpm --filter @drover/bench exec tsx src/verity.ts            # 1 GiB and 4 GiB, 3 runs each
 *   VERITY_BENCH_SIZES=256 VERITY_BENCH_RUNS=1 pnpm --filter @drover/bench exec tsx src/verity.ts   # quick check
 *   VERITY_BENCH_FEC=0 …                                                   # format and verify only
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const runner = join(here, 'verity-runner.mjs');
const sizesMiB = (process.env.VERITY_BENCH_SIZES ?? '1024,4096').split(',').map(Number);
const runs = Number(process.env.VERITY_BENCH_RUNS ?? 3);
const fecRoots = Number(process.env.VERITY_BENCH_FEC_ROOTS ?? 2);
// VERITY_BENCH_FEC=0 skips the (slow, veritysetup-bound) format+fec runs.
const withFec = process.env.VERITY_BENCH_FEC !== '0';
const SALT = 'e48da609055204e89ae53b655ca2216dd983cf3cb829f34f63a297d106d53e2d';
const UUID = '8dd4a4d5-7f5e-4e6b-9a1b-2c3d4e5f6a7b';

interface Sample {
  seconds: number;
  cpuSeconds: number;
  rssMiB: number;
  stdout: string;
}

/** Run a command under /usr/bin/time: wall-clock seconds and peak RSS. */
function timed(command: string, args: string[]): Sample {
  const r = spawnSync('/usr/bin/time', ['-f', '__TIME__ %e %M %U %S', command, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const line = r.stderr.split('\n').find((l) => l.startsWith('__TIME__'));
  if (!line || (r.status !== 0 && r.status !== null)) {
    throw new Error(`${command} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  }
  const [, seconds, kb, user, sys] = line.split(' ');
  return {
    seconds: Number(seconds),
    cpuSeconds: Number(user) + Number(sys),
    rssMiB: Number(kb) / 1024,
    stdout: r.stdout,
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function makeData(path: string, mib: number): Promise<void> {
  const out = createWriteStream(path);
  for (let i = 0; i < mib; i++) {
    if (!out.write(randomBytes(1024 * 1024))) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
}

function dropFile(path: string): void {
  rmSync(path, { force: true });
}

interface Row {
  size: string;
  op: string;
  veritysetup: number;
  drover: number;
  ratio: number;
  vsRss: number;
  droverRss: number;
  mibPerSecond: number;
  vsCpu: number;
  droverCpu: number;
}

async function main(): Promise<void> {
  if (!existsSync(join(here, '..', 'node_modules', '@drover', 'verity', 'dist', 'index.js'))) {
    throw new Error('build @drover/verity first: pnpm nx run @drover/verity:build');
  }
  const startLoad = loadavg();
  const version = execFileSync('/usr/sbin/veritysetup', ['--version'], { encoding: 'utf8' }).trim();
  const dir = await mkdtemp(join(tmpdir(), 'drover-bench-verity-'));
  const rows: Row[] = [];
  try {
    for (const mib of sizesMiB) {
      const data = join(dir, 'data.img');
      await makeData(data, mib);
      const vsHash = join(dir, 'vs.hash');
      const drHash = join(dir, 'dr.hash');
      const vsFec = join(dir, 'vs.fec');
      const drFec = join(dir, 'dr.fec');
      const samples: Record<string, { vs: Sample[]; dr: Sample[] }> = {
        format: { vs: [], dr: [] },
        verify: { vs: [], dr: [] },
        'format+fec': { vs: [], dr: [] },
      };
      let root = '';
      for (let run = 0; run < runs; run++) {
        // Alternate who goes first so page-cache warmth does not favour one side.
        const order = run % 2 === 0 ? ['vs', 'dr'] : ['dr', 'vs'];
        for (const who of order) {
          dropFile(who === 'vs' ? vsHash : drHash);
          const s =
            who === 'vs'
              ? timed('/usr/sbin/veritysetup', ['format', data, vsHash, `--salt=${SALT}`, `--uuid=${UUID}`])
              : timed(process.execPath, [runner, 'format', data, drHash, SALT, UUID]);
          samples.format![who as 'vs' | 'dr'].push(s);
          if (who === 'dr') root = s.stdout.trim();
        }
        if (!readFileSync(vsHash).equals(readFileSync(drHash))) throw new Error('hash files differ');
        for (const who of order) {
          const s =
            who === 'vs'
              ? timed('/usr/sbin/veritysetup', ['verify', data, vsHash, root])
              : timed(process.execPath, [runner, 'verify', data, drHash, root]);
          samples.verify![who as 'vs' | 'dr'].push(s);
        }
        for (const who of withFec ? order : []) {
          dropFile(who === 'vs' ? vsHash : drHash);
          dropFile(who === 'vs' ? vsFec : drFec);
          const s =
            who === 'vs'
              ? timed('/usr/sbin/veritysetup', [
                  'format',
                  data,
                  vsHash,
                  `--salt=${SALT}`,
                  `--uuid=${UUID}`,
                  `--fec-device=${vsFec}`,
                  `--fec-roots=${fecRoots}`,
                ])
              : timed(process.execPath, [
                  runner,
                  'format',
                  data,
                  drHash,
                  SALT,
                  UUID,
                  drFec,
                  String(fecRoots),
                ]);
          samples['format+fec']![who as 'vs' | 'dr'].push(s);
        }
        if (withFec && !readFileSync(vsFec).equals(readFileSync(drFec))) throw new Error('FEC files differ');
      }
      for (const [op, { vs, dr }] of Object.entries(samples)) {
        if (vs.length === 0) continue;
        const v = median(vs.map((s) => s.seconds));
        const d = median(dr.map((s) => s.seconds));
        rows.push({
          size: mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`,
          op,
          veritysetup: v,
          drover: d,
          ratio: v / d,
          vsRss: Math.max(...vs.map((s) => s.rssMiB)),
          droverRss: Math.max(...dr.map((s) => s.rssMiB)),
          mibPerSecond: mib / d,
          vsCpu: median(vs.map((s) => s.cpuSeconds)),
          droverCpu: median(dr.map((s) => s.cpuSeconds)),
        });
      }
      // FEC encoding alone: per run, format+fec minus the same run's format; the median of those differences.
      const fecOnly = (who: 'vs' | 'dr', field: 'seconds' | 'cpuSeconds'): number => {
        const plain = samples.format![who];
        return median(samples['format+fec']![who].map((s, i) => s[field] - (plain[i]?.[field] ?? 0)));
      };
      if (!withFec) {
        for (const p of [data, vsHash, drHash]) dropFile(p);
        continue;
      }
      const ff = rows.at(-1)!;
      const vsFecOnly = fecOnly('vs', 'seconds');
      const drFecOnly = fecOnly('dr', 'seconds');
      rows.push({
        size: ff.size,
        op: 'fec (derived)',
        veritysetup: vsFecOnly,
        drover: drFecOnly,
        ratio: drFecOnly > 0 ? vsFecOnly / drFecOnly : Number.NaN,
        vsRss: ff.vsRss,
        droverRss: ff.droverRss,
        mibPerSecond: drFecOnly > 0 ? mib / drFecOnly : Number.NaN,
        vsCpu: fecOnly('vs', 'cpuSeconds'),
        droverCpu: fecOnly('dr', 'cpuSeconds'),
      });
      for (const p of [data, vsHash, drHash, vsFec, drFec]) dropFile(p);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`load average at the start: ${startLoad.map((l) => l.toFixed(1)).join(' ')}`);
  console.log(
    `# verity benchmark: ${version}, node ${process.version}, ${availableParallelism()} cores (${cpu}), ${runs} runs, median`,
  );
  console.log(`FEC roots: ${fecRoots}; ratio = veritysetup time / drover time (> 1: drover faster)`);
  console.log(
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}\n`,
  );
  console.log(
    '| size | operation | veritysetup s | drover s | ratio | drover MiB/s | CPU s veritysetup / drover | peak RSS veritysetup / drover |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.size} | ${r.op} | ${r.veritysetup.toFixed(2)} | ${r.drover.toFixed(2)} | ${r.ratio.toFixed(2)}x | ${r.mibPerSecond.toFixed(0)} | ${r.vsCpu.toFixed(2)} / ${r.droverCpu.toFixed(2)} | ${r.vsRss.toFixed(0)} / ${r.droverRss.toFixed(0)} MiB |`,
    );
  }
}

await main();
