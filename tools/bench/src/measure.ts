import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Wall time and peak RSS of one command, as `/usr/bin/time -v` reports them, plus its stdout. */
export interface Measure {
  seconds: number;
  rssMiB: number;
  stdout: string;
}

/** Run a command under `/usr/bin/time -v` and parse its wall time and peak resident set size. */
export async function timed(cmd: string, args: string[], cwd?: string): Promise<Measure> {
  const { stdout, stderr } = await run('/usr/bin/time', ['-v', cmd, ...args], {
    maxBuffer: 1 << 26,
    ...(cwd ? { cwd } : {}),
  });
  const wall = /Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)/.exec(stderr);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  if (!wall || !rss) throw new Error(`cannot parse /usr/bin/time output:\n${stderr}`);
  const seconds = Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]);
  return { seconds, rssMiB: Number(rss[1]) / 1024, stdout };
}

/** The median (upper middle for even counts). */
export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
