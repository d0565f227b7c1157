import {
  type Context,
  DroverError,
  type DroverErrorJSON,
  isDroverError,
  type Logger,
  toDroverError,
} from '@drover/core';
import { Command, Errors, Flags, type Interfaces } from '@oclif/core';
import { EXIT_CODES, exitCodeFor } from './exit-codes.js';
import { chooseProgressMode, ProgressRenderer } from './progress-renderer.js';
import { createStyle, type Style, useColor } from './style.js';

/**
 * Base class of every drover command. A command parses its flags, calls one library function with `this.context()`,
 * prints a human summary with `this.log`, and returns plain data, which is exactly what `--json` prints.
 * Errors become one line plus a hint on stderr and an exit code documented in docs/cli.md.
 */
export abstract class DroverCommand extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    quiet: Flags.boolean({
      char: 'q',
      summary: 'Print no progress and no informational messages (results and errors still print).',
      helpGroup: 'GLOBAL',
    }),
  };

  /** Set to a non-zero code to exit with it after printing a successful result (e.g. verify found corruption). */
  protected exitCodeOnSuccess = 0;

  #renderer?: ProgressRenderer;
  #style?: Style;

  /** Colours for stderr, honouring NO_COLOR and FORCE_COLOR. */
  protected get style(): Style {
    this.#style ??= createStyle(useColor(process.stderr));
    return this.#style;
  }

  protected get quiet(): boolean {
    return this.argv.includes('--quiet') || this.argv.includes('-q');
  }

  /** The Context to hand to library calls: a stderr logger and a progress renderer (bar on a TTY, lines otherwise). */
  protected context(extra: Partial<Context> = {}): Context {
    const json = this.jsonEnabled();
    this.#renderer ??= new ProgressRenderer({
      mode: chooseProgressMode({ quiet: this.quiet, json, isTTY: Boolean(process.stderr.isTTY) }),
      write: (text) => process.stderr.write(text),
      style: this.style,
      columns: process.stderr.columns ?? 80,
    });
    return { logger: this.#logger(), onProgress: this.#renderer.handle, ...extra };
  }

  #logger(): Logger {
    const debugOn = Boolean(process.env.DEBUG);
    const quiet = this.quiet || this.jsonEnabled();
    const write = (line: string): void => {
      this.#renderer?.finish();
      process.stderr.write(`${line}\n`);
    };
    const fields = (f?: Record<string, unknown>): string =>
      f && Object.keys(f).length > 0 ? ` ${this.style.dim(JSON.stringify(f))}` : '';
    return {
      debug: (m, f) => {
        if (debugOn) write(this.style.dim(`debug: ${m}${fields(f)}`));
      },
      info: (m, f) => {
        if (!quiet) write(`${m}${fields(f)}`);
      },
      warn: (m, f) => write(`${this.style.yellow('warning:')} ${m}${fields(f)}`),
      error: (m, f) => write(`${this.style.red('error:')} ${m}${fields(f)}`),
    };
  }

  protected override async finally(error: Error | undefined): Promise<void> {
    this.#renderer?.finish();
    if (!error && this.exitCodeOnSuccess !== 0) process.exitCode = this.exitCodeOnSuccess;
    await super.finally(error);
  }

  protected override toErrorJson(error: unknown): { error: DroverErrorJSON } {
    return { error: toCliError(error).toJSON() };
  }

  /** Print the error as one line plus its hint (or as JSON with --json), then exit with the code of its kind. */
  protected override async catch(error: Error & { exitCode?: number }): Promise<never> {
    this.#renderer?.finish();
    if (error instanceof Errors.ExitError) throw error;
    const droverError = toCliError(error, this.id);
    const code = exitCodeFor(droverError.kind);
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(droverError));
    } else {
      process.stderr.write(renderError(droverError, this.style));
    }
    process.exitCode = code;
    return this.exit(code);
  }
}

type ParseError = Error & { parse?: unknown; oclif?: { exit?: number } };

/** Map anything thrown (oclif parse errors included) to a DroverError. */
export function toCliError(error: unknown, commandId?: string): DroverError {
  if (isDroverError(error)) return error as DroverError;
  const parseError = error as ParseError;
  if (error instanceof Errors.CLIError && (parseError.parse !== undefined || parseError.oclif?.exit === 2)) {
    const help = commandId ? `drover ${commandId.replaceAll(':', ' ')} --help` : 'drover --help';
    return new DroverError('USAGE', firstLine(stripAnsi(error.message)), {
      kind: 'usage',
      hint: `Run \`${help}\` for the accepted flags and arguments.`,
    });
  }
  return toDroverError(error);
}

/** The text printed for an error: `drover: message`, a hint line, and the stack only when DEBUG is set. */
export function renderError(error: DroverError | DroverErrorJSON, style: Style): string {
  // The code goes on the first line, even when the message lists several problems on the lines below.
  const [first = '', ...rest] = error.message.split('\n');
  let out = `${style.red('drover:')} ${first} ${style.dim(`[${error.code}]`)}\n`;
  for (const line of rest) out += `${line}\n`;
  if (error.hint) out += `${style.yellow('hint:')} ${error.hint}\n`;
  if (process.env.DEBUG && error instanceof Error) {
    out += `${error.stack ?? ''}\n`;
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof Error && cause.stack) out += `caused by: ${cause.stack}\n`;
  }
  return out;
}

/** Exit codes, for commands that need to name one explicitly. */
export { EXIT_CODES };

function firstLine(s: string): string {
  // oclif's parse errors carry a "See more help with --help" tail; we print our own hint.
  return (
    s
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/^See more help with/.test(l))
      .join('; ') || s
  );
}

function stripAnsi(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are control characters by definition.
  return s.replace(/\u001b\[[0-9;]*m/g, '');
}

export type DroverFlags<T extends typeof Command> = Interfaces.InferredFlags<
  (typeof DroverCommand)['baseFlags'] & T['flags']
>;
