/**
 * What kind of failure an error is. The CLI maps each kind to one documented exit code, the Action to a
 * failure message; libraries pick the kind that tells a user where to look.
 */
export type DroverErrorKind =
  /** The command line itself is wrong (unknown flag, missing argument). */
  | 'usage'
  /** The input is malformed or inconsistent: a recipe, an image, a flag value. */
  | 'input'
  /** A file or object that should exist does not. */
  | 'not-found'
  /** An external tool or service is missing or unreachable. */
  | 'unavailable'
  /** Reading or writing failed at the OS level. */
  | 'io'
  /** Data does not match its digest, signature or hash tree. */
  | 'integrity'
  /** Not allowed: permissions, policy, an untrusted key. */
  | 'denied'
  /** Someone else holds the lock or the state moved underneath us; retrying later may work. */
  | 'conflict'
  /** The operation was cancelled through the context's signal. */
  | 'aborted'
  /** A bug in drover. */
  | 'internal';

export const DROVER_ERROR_KINDS: readonly DroverErrorKind[] = [
  'usage',
  'input',
  'not-found',
  'unavailable',
  'io',
  'integrity',
  'denied',
  'conflict',
  'aborted',
  'internal',
];

export interface DroverErrorOptions {
  /** What the user can do about it, one sentence. */
  hint?: string;
  /** The error that caused this one. */
  cause?: unknown;
  /** Failure kind; defaults to `input`. */
  kind?: DroverErrorKind;
  /** Structured facts for `--json` output and programmatic handling (no secrets). */
  details?: Record<string, unknown>;
}

/** The plain-data form of a DroverError, as `--json` prints it. */
export interface DroverErrorJSON {
  name: 'DroverError';
  code: string;
  kind: DroverErrorKind;
  message: string;
  hint?: string;
  details?: Record<string, unknown>;
  cause?: { name?: string; message: string; code?: string };
}

const CODE_PATTERN = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;

/**
 * The one error type drover libraries throw. `code` is stable (`RECIPE_INVALID`, `VERITY_HASH_TOO_SMALL`) and
 * safe to match on; `hint` says what to do. Every field is an own enumerable property so that
 * `JSON.stringify` and `--json` show it.
 */
export class DroverError extends Error {
  declare readonly name: 'DroverError';
  readonly code: string;
  readonly kind: DroverErrorKind;
  declare readonly hint?: string;
  declare readonly details?: Record<string, unknown>;

  constructor(code: string, message: string, options: DroverErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (!CODE_PATTERN.test(code)) {
      throw new TypeError(`DroverError code must be UPPER_SNAKE_CASE, got ${JSON.stringify(code)}`);
    }
    // Own, enumerable fields (Error's own `message` is not enumerable by default).
    Object.defineProperty(this, 'name', { value: 'DroverError', enumerable: true, configurable: true });
    Object.defineProperty(this, 'message', {
      value: message,
      enumerable: true,
      configurable: true,
      writable: true,
    });
    this.code = code;
    this.kind = options.kind ?? 'input';
    if (options.hint !== undefined) this.hint = options.hint;
    if (options.details !== undefined) this.details = options.details;
    if (options.cause !== undefined) {
      Object.defineProperty(this, 'cause', {
        value: options.cause,
        enumerable: true,
        configurable: true,
        writable: true,
      });
    }
  }

  /** Plain data for `--json`: code, kind, message, hint, details and a summary of the cause. */
  toJSON(): DroverErrorJSON {
    const json: DroverErrorJSON = {
      name: 'DroverError',
      code: this.code,
      kind: this.kind,
      message: this.message,
    };
    if (this.hint !== undefined) json.hint = this.hint;
    if (this.details !== undefined) json.details = this.details;
    if (this.cause !== undefined) json.cause = summarizeCause(this.cause);
    return json;
  }
}

function summarizeCause(cause: unknown): { name?: string; message: string; code?: string } {
  if (cause instanceof Error) {
    const out: { name?: string; message: string; code?: string } = {
      name: cause.name,
      message: cause.message,
    };
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string') out.code = code;
    return out;
  }
  return { message: String(cause) };
}

/** True for a DroverError, optionally with the given code. Works across duplicate copies of this package. */
export function isDroverError(value: unknown, code?: string): value is DroverError {
  if (value instanceof DroverError) return code === undefined || value.code === code;
  // A second copy of @drover/core (e.g. a bundled CLI and a linked library) has its own class.
  if (typeof value === 'object' && value !== null && (value as { name?: unknown }).name === 'DroverError') {
    const c = (value as { code?: unknown }).code;
    return typeof c === 'string' && (code === undefined || c === code);
  }
  return false;
}

/**
 * Turn anything thrown into a DroverError: DroverErrors pass through, Node system errors (ENOENT, EACCES, …)
 * become `not-found`/`denied`/`io` errors that keep the path, anything else is `INTERNAL`.
 */
export function toDroverError(error: unknown, context?: string): DroverError {
  if (isDroverError(error)) return error;
  const sys = error as NodeJS.ErrnoException | undefined;
  const prefix = context ? `${context}: ` : '';
  if (sys && typeof sys === 'object' && typeof sys.code === 'string' && typeof sys.syscall === 'string') {
    const where = sys.path ? ` ${sys.path}` : '';
    switch (sys.code) {
      case 'ENOENT':
        return new DroverError('FILE_NOT_FOUND', `${prefix}no such file or directory:${where}`, {
          kind: 'not-found',
          hint: 'Check the path; relative paths are resolved from the current directory.',
          cause: error,
        });
      case 'EACCES':
      case 'EPERM':
        return new DroverError('PERMISSION_DENIED', `${prefix}permission denied:${where}`, {
          kind: 'denied',
          hint: 'Check the file permissions, or run as a user that may access it.',
          cause: error,
        });
      case 'ENOSPC':
        return new DroverError('NO_SPACE', `${prefix}no space left on device${where}`, {
          kind: 'io',
          hint: 'Free some space or choose an output directory on a larger filesystem.',
          cause: error,
        });
      default:
        return new DroverError('IO_ERROR', `${prefix}${sys.syscall}${where} failed: ${sys.code}`, {
          kind: 'io',
          cause: error,
        });
    }
  }
  if (error instanceof Error && error.name === 'AbortError') {
    return new DroverError('ABORTED', `${prefix}operation aborted`, { kind: 'aborted', cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new DroverError('INTERNAL', `${prefix}${message}`, {
    kind: 'internal',
    hint: 'This is a bug in drover; please report it with the command you ran (DEBUG=1 shows the stack).',
    cause: error,
  });
}
