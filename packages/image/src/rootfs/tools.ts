import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { type Context, DroverError } from '@drover/core';

/** Debian packages of the tools drover shells out to. */
const PACKAGES: Record<string, string> = {
  sqfstar: 'squashfs-tools',
  mksquashfs: 'squashfs-tools',
  mke2fs: 'e2fsprogs',
  debugfs: 'e2fsprogs',
  mknod: 'coreutils',
  zstd: 'zstd',
  xz: 'xz-utils',
};

function unavailable(command: string, what: string): DroverError {
  const pkg = PACKAGES[command] ?? command;
  return new DroverError('TOOL_UNAVAILABLE', `${command} is not installed (needed for ${what})`, {
    kind: 'unavailable',
    hint: `Install the Debian package ${pkg} (apt-get install ${pkg}), or choose another format.`,
    details: { command, package: pkg },
  });
}

/** Fail early, before any work, when one of `commands` is not on the PATH. */
export async function requireTools(commands: readonly string[], what: string): Promise<void> {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const command of commands) {
    let found = false;
    for (const dir of dirs) {
      try {
        await access(join(dir, command), constants.X_OK);
        found = true;
        break;
      } catch {
        // not in this directory
      }
    }
    if (!found) throw unavailable(command, what);
  }
}

/** Options for {@link runTool}. */
export interface RunToolOptions {
  command: string;
  args: readonly string[];
  env?: Record<string, string>;
  /** Fed to the tool's stdin (chunks). */
  input?: AsyncIterable<Uint8Array>;
  /** Where the tool's stdout goes (default: discarded, except the last 64 KiB kept for errors). */
  output?: Writable;
  /** Error code when the tool fails. */
  code: string;
  /** What the tool was doing, for the message. */
  what: string;
  hint?: string;
}

/** Run an external tool; a missing tool is `unavailable` naming its Debian package, a failure shows stderr. */
export async function runTool(options: RunToolOptions, ctx: Context = {}): Promise<{ stdout: string }> {
  const pkg = PACKAGES[options.command] ?? options.command;
  const child = spawn(options.command, options.args as string[], {
    env: { ...process.env, LC_ALL: 'C', ...options.env },
    stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-65536);
  });
  if (options.output) child.stdout!.pipe(options.output, { end: false });
  else
    child.stdout!.on('data', (d: Buffer) => {
      stdout = (stdout + d.toString()).slice(-65536);
    });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  let feedError: unknown;
  const feeding = options.input
    ? feed(options.input, child.stdin!).catch((error: unknown) => {
        feedError = error;
        child.kill('SIGTERM');
      })
    : Promise.resolve();
  let code: number | null;
  try {
    code = await exited;
  } catch (error) {
    child.stdin?.destroy();
    await feeding;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw unavailable(options.command, options.what);
    if (ctx.signal?.aborted) throw ctx.signal.reason;
    throw new DroverError(options.code, `${options.what}: could not run ${options.command}`, {
      kind: 'io',
      cause: error,
      hint: options.hint ?? `Check that ${options.command} (${pkg}) works on this machine.`,
    });
  }
  await feeding;
  if (feedError !== undefined) throw feedError;
  if (code !== 0) {
    throw new DroverError(
      options.code,
      `${options.what}: ${options.command} failed (exit ${code}): ${summarize(stderr)}`,
      {
        kind: 'io',
        hint: options.hint ?? `See the ${options.command} message above.`,
        details: { command: options.command, args: options.args, stderr: stderr.slice(-4000) },
      },
    );
  }
  return { stdout };
}

async function feed(input: AsyncIterable<Uint8Array>, stdin: Writable): Promise<void> {
  let closed = false;
  const onClose = new Promise<void>((resolve) =>
    stdin.once('close', () => {
      closed = true;
      resolve();
    }),
  );
  // EPIPE means the tool exited early; its exit status explains why
  stdin.on('error', () => {});
  try {
    for await (const chunk of input) {
      if (closed || stdin.destroyed) break;
      if (!stdin.write(chunk)) {
        if (closed || stdin.destroyed) break;
        await new Promise<void>((resolve) => {
          const done = (): void => {
            stdin.off('drain', done);
            resolve();
          };
          stdin.on('drain', done);
          void onClose.then(done);
        });
      }
    }
  } finally {
    stdin.end();
  }
  if (!stdin.destroyed) await onClose;
}

export type { Readable };

/** The first line of a tool's complaint, plus its last one when they differ (usage texts sit in between). */
function summarize(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (lines.length <= 1) return lines[0] ?? '(no message)';
  return lines[0] === lines.at(-1) ? lines[0]! : `${lines[0]} … ${lines.at(-1)}`;
}
