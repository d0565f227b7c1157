/**
 * Rollout benchmark: `planRollout` (the real engine on a simulated fleet and a virtual clock) for 100,000 members,
 * and the engine's overhead per member action, measured against a bare loop driving the same simulated fleet with
 * no journal, lease, budgets or health checks (the "reference": what the fleet simulation alone costs). Each
 * figure is the median of several runs, each run in its own process under /usr/bin/time for peak RSS.
 *
 *   pnpm --filter @drover/bench exec tsx src/rollout.ts
 *   ROLLOUT_BENCH_RUNS=1 pnpm --filter @drover/bench exec tsx src/rollout.ts     # quick check
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageRef } from '@drover/core';
import {
  FileStateStore,
  MemoryStateStore,
  parseRolloutSpec,
  planRollout,
  type SimMemberSpec,
  SimulatedFleet,
  startRollout,
  VirtualClock,
} from '@drover/rollout';

const runs = Number(process.env.ROLLOUT_BENCH_RUNS ?? 5);
const OLD: ImageRef = { uri: 'local:old', digest: `sha256:${'1'.repeat(64)}` };
const NEW = `sha256:${'2'.repeat(64)}`;

function spec(maxUnavailable: string) {
  return parseRolloutSpec({
    text: `apiVersion: drover.dev/v1
kind: Rollout
name: bench
image: local:${NEW}
strategy:
  type: canary
  maxUnavailable: "${maxUnavailable}"
  steps:
    - { count: 1, bake: 10m, gates: [healthy] }
    - { percent: 10, bake: 10m, gates: [healthy] }
budgets:
  - maxUnavailable: 5%
  - maxUnavailable: 2%
    perZone: true
gates:
  - { name: healthy, type: health, count: 3, interval: 1m }
`,
  }).spec;
}

function members(n: number, zones = 10): SimMemberSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `m${i}`,
    region: `r${i % 3}`,
    zone: `z${i % zones}`,
    image: OLD,
  }));
}

/** One measurement, in this process; prints JSON. */
async function one(kind: string, n: number): Promise<void> {
  const t0 = performance.now();
  let actions = 0;
  let extra: Record<string, unknown> = {};
  if (kind === 'plan') {
    const zones = Array.from({ length: 10 }, (_, i) => ({
      region: `r${i % 3}`,
      zone: `z${i}`,
      members: n / 10,
    }));
    const plan = await planRollout({
      spec: spec('1%'),
      fleet: { image: OLD, updateTime: '3m', zones },
      startAt: 0,
    });
    if (plan.status !== 'completed' || plan.members.updated !== n)
      throw new Error(`plan did not complete: ${plan.status}`);
    actions = plan.actions;
    extra = {
      predictedHours: plan.predictedDurationMs / 3_600_000,
      lowerBoundHours: plan.lowerBoundMs / 3_600_000,
      worst: plan.worstCaseUnavailable,
    };
  } else if (kind === 'engine' || kind === 'engine-file') {
    const clock = new VirtualClock(0);
    const fleet = new SimulatedFleet({ clock, members: members(n), updateMs: 180_000 });
    const dir = kind === 'engine-file' ? mkdtempSync(join(tmpdir(), 'drover-bench-')) : '';
    const store =
      kind === 'engine-file'
        ? new FileStateStore(dir, () => clock.now())
        : new MemoryStateStore(() => clock.now());
    const s = spec('1%');
    s.strategy = { type: 'rolling', maxUnavailable: '1%' };
    const r = await startRollout({
      id: 'bench',
      spec: s,
      fleet,
      store,
      clock,
      holder: 'bench',
      leaseTtlMs: 1e12,
      controlPollMs: Number.POSITIVE_INFINITY,
    });
    actions = r.actions;
    if (dir) rmSync(dir, { recursive: true, force: true });
  } else if (kind === 'bare') {
    // The reference: the same simulated fleet, updated k at a time by a bare loop.
    const clock = new VirtualClock(0);
    const ms = members(n);
    const fleet = new SimulatedFleet({ clock, members: ms, updateMs: 180_000 });
    const k = Math.max(1, Math.floor(n / 100));
    const target: ImageRef = { uri: 'local:new', digest: NEW as ImageRef['digest'] };
    let next = 0;
    let inFlight = 0;
    const startOne = (): void => {
      const m = ms[next++] as SimMemberSpec;
      inFlight++;
      actions++;
      void (fleet.update as NonNullable<typeof fleet.update>)({ id: m.id, state: 'ready' }, target).then(
        () => {
          inFlight--;
          clock.wake();
        },
      );
    };
    while (next < n || inFlight > 0) {
      while (inFlight < k && next < n) startOne();
      await clock.idle(Number.POSITIVE_INFINITY, false).catch(() => undefined);
    }
  }
  const ms = performance.now() - t0;
  process.stdout.write(`${JSON.stringify({ kind, n, ms, actions, ...extra })}\n`);
}

interface Sample {
  ms: number;
  actions: number;
  rssMiB: number;
  extra: Record<string, unknown>;
}

function measure(kind: string, n: number): Sample {
  const r = spawnSync(
    '/usr/bin/time',
    [
      '-f',
      '__TIME__ %M',
      process.execPath,
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--one',
      kind,
      String(n),
    ],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    },
  );
  const line = r.stderr.split('\n').find((l) => l.startsWith('__TIME__'));
  if (r.status !== 0 || !line) throw new Error(`${kind} ${n} failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() as string);
  const { ms, actions, ...extra } = out;
  return { ms, actions, rssMiB: Number(line.split(' ')[1]) / 1024, extra };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? (s[(s.length - 1) / 2] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--one') return one(argv[1] as string, Number(argv[2]));
  const rows: string[] = [];
  const report = (label: string, kind: string, n: number): Sample[] => {
    const samples = Array.from({ length: runs }, () => measure(kind, n));
    const ms = median(samples.map((s) => s.ms));
    const rss = Math.max(...samples.map((s) => s.rssMiB));
    rows.push(
      `| ${label} | ${n.toLocaleString('en-US')} | ${(ms / 1000).toFixed(2)} s | ${((ms * 1000) / (samples[0]?.actions ?? 1)).toFixed(1)} µs | ${rss.toFixed(0)} MiB |`,
    );
    process.stderr.write(
      `${label}: median ${ms.toFixed(0)} ms over ${runs} runs ${JSON.stringify(samples[0]?.extra)}\n`,
    );
    return samples;
  };
  const plan = report('planRollout (canary + gates + budgets, 10 zones)', 'plan', 100_000);
  const engine = report('engine, memory journal (rolling 1%)', 'engine', 100_000);
  const bare = report('reference: bare loop on the same simulated fleet', 'bare', 100_000);
  const file = report('engine, file journal with fsync (rolling 1%)', 'engine-file', 2_000);
  const perAction = (s: Sample[]): number => median(s.map((x) => x.ms)) / (s[0]?.actions ?? 1);
  const overhead = perAction(engine) - perAction(bare);
  console.log('| run | members | wall (median) | per member action | peak RSS |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of rows) console.log(r);
  console.log('');
  console.log(
    `plan of 100,000 members: ${(median(plan.map((s) => s.ms)) / 1000).toFixed(2)} s (target <= 5 s); predicted ${JSON.stringify(plan[0]?.extra)}`,
  );
  console.log(
    `engine overhead per member action (engine - bare loop): ${(overhead * 1000).toFixed(1)} µs (target < 1 ms); ratio engine/bare ${(perAction(engine) / perAction(bare)).toFixed(1)}x`,
  );
  console.log(
    `with the fsync'd file journal: ${(perAction(file) * 1000).toFixed(0)} µs per member action (two fsyncs each)`,
  );
}

await main();
