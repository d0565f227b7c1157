/**
 * Signing benchmark: drover (`@drover/sign`, built dist, one process per run) signing and verifying a large
 * artifact (stream SHA-256 + ECDSA P-256 over the digest + Sigstore bundle + DER .sig), against
 * `openssl dgst -sha256` and `openssl dgst -sha256 -sign` on the same file in the same run. Prints medians,
 * throughput ratios (openssl time / drover time, so >= 0.9 is the target) and peak RSS.
 *
 *   pnpm nx run @drover/sign:build
 *   pnpm --filter @drover/bench exec tsx src/sign.ts                 # 4 GiB, 3 runs
 *   SIGN_BENCH_MIB=256 SIGN_BENCH_RUNS=1 pnpm --filter @drover/bench exec tsx src/sign.ts   # quick check
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const runner = join(here, 'sign-runner.mjs');
const mib = Number(process.env.SIGN_BENCH_MIB ?? 4096);
const runs = Number(process.env.SIGN_BENCH_RUNS ?? 3);

interface Sample {
  seconds: number;
  rssMiB: number;
  stdout: string;
}

/** Run a command under /usr/bin/time: wall-clock seconds and peak RSS. */
function timed(command: string, args: string[]): Sample {
  const r = spawnSync('/usr/bin/time', ['-f', '__TIME__ %e %M', command, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const line = r.stderr.split('\n').find((l) => l.startsWith('__TIME__'));
  if (!line || r.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const [, seconds, kb] = line.split(' ');
  return { seconds: Number(seconds), rssMiB: Number(kb) / 1024, stdout: r.stdout };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function makeData(path: string, size: number): Promise<void> {
  const out = createWriteStream(path);
  const block = randomBytes(1 << 20);
  for (let i = 0; i < size; i++) {
    block[i % block.length] = i & 0xff; // vary the blocks a little; content does not change hashing speed
    if (!out.write(Buffer.from(block))) await new Promise((r) => out.once('drain', r));
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
}

const dir = await mkdtemp(join(tmpdir(), 'drover-bench-sign-'));
try {
  const file = join(dir, 'artifact.img');
  const key = join(dir, 'key.pem');
  const pub = join(dir, 'key.pub');
  spawnSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  spawnSync('openssl', ['pkey', '-in', key, '-pubout', '-out', pub]);
  writeFileSync(join(dir, 'policy.json'), JSON.stringify({ version: 1, keys: [{ path: 'key.pub' }] }));
  process.stdout.write(`writing ${mib} MiB test file...\n`);
  await makeData(file, mib);
  // warm the page cache once so every tool reads the same cached file
  spawnSync('openssl', ['dgst', '-sha256', file]);

  const rows: Record<string, Sample[]> = {
    'openssl dgst -sha256': [],
    'openssl dgst -sha256 -sign': [],
    'drover sign': [],
    'drover verify': [],
  };
  for (let i = 0; i < runs; i++) {
    rows['openssl dgst -sha256']?.push(timed('openssl', ['dgst', '-sha256', file]));
    rows['openssl dgst -sha256 -sign']?.push(
      timed('openssl', ['dgst', '-sha256', '-sign', key, '-out', join(dir, 'o.sig'), file]),
    );
    rows['drover sign']?.push(
      timed(process.execPath, [runner, 'sign', file, key, join(dir, 'b.json'), join(dir, 'd.sig')]),
    );
    rows['drover verify']?.push(
      timed(process.execPath, [runner, 'verify', file, join(dir, 'b.json'), join(dir, 'policy.json')]),
    );
  }
  const check = spawnSync(
    'openssl',
    ['dgst', '-sha256', '-verify', pub, '-signature', join(dir, 'd.sig'), file],
    { encoding: 'utf8' },
  );
  const base = median(rows['openssl dgst -sha256']?.map((s) => s.seconds) ?? []);
  process.stdout.write(
    `\n${mib} MiB, ${runs} run(s), ${cpus()[0]?.model ?? 'cpu'}; Node ${process.version}\n`,
  );
  process.stdout.write(`drover signature checked by openssl: ${check.stdout.trim()}\n\n`);
  process.stdout.write(
    '| operation | median s | MiB/s | vs openssl dgst -sha256 | peak RSS MiB |\n|---|---|---|---|---|\n',
  );
  for (const [name, samples] of Object.entries(rows)) {
    const t = median(samples.map((s) => s.seconds));
    const rss = Math.max(...samples.map((s) => s.rssMiB));
    process.stdout.write(
      `| ${name} | ${t.toFixed(2)} | ${(mib / t).toFixed(0)} | ${(base / t).toFixed(2)}x | ${rss.toFixed(0)} |\n`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
