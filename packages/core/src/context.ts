import { DroverError } from './error.js';
import type { ProgressEvent } from './progress.js';

/** Structured fields attached to a log line. Never put secrets here. */
export type LogFields = Record<string, unknown>;

/** Where libraries send diagnostics. The CLI decides whether and how to show them. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/**
 * What every public drover function takes besides its options: a logger, a progress sink and an abort signal.
 * All optional; libraries never print and never exit, they log here, report progress here and stop when the
 * signal fires.
 */
export interface Context {
  logger?: Logger;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

/** A Context with every member present, so library code never checks for undefined. */
export interface ResolvedContext {
  logger: Logger;
  onProgress: (event: ProgressEvent) => void;
  signal: AbortSignal | undefined;
}

const noop = (): void => {};

/** A logger that drops everything. */
export const silentLogger: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });

/** Fill in no-op defaults for whatever the caller left out. */
export function resolveContext(ctx: Context = {}): ResolvedContext {
  return {
    logger: ctx.logger ?? silentLogger,
    onProgress: ctx.onProgress ?? noop,
    signal: ctx.signal,
  };
}

/** Throw `ABORTED` if the context's signal has fired. Call it between units of work. */
export function throwIfAborted(ctx: Context | ResolvedContext | undefined): void {
  const signal = ctx?.signal;
  if (signal?.aborted) {
    throw new DroverError('ABORTED', 'operation aborted', {
      kind: 'aborted',
      cause: signal.reason,
      hint: 'The operation was cancelled; outputs under their final names are unchanged, rerun to finish.',
    });
  }
}
