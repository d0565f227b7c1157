import { DroverError } from '@drover/core';

// Pure parsers for the little languages inside a recipe: sizes, file modes, owners and paths. Each returns a
// value or an error message with a hint; the schema turns those into problems at the right position.

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string; hint: string };

const UNITS: Record<string, number> = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
  kB: 1000,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
  TB: 1000 ** 4,
};

/** What a size string looks like (also published in the JSON Schema). */
export const SIZE_PATTERN = '^\\s*[0-9]+(\\.[0-9]+)?\\s*(B|KiB|MiB|GiB|TiB|kB|KB|MB|GB|TB)?\\s*$';
const SIZE_RE = new RegExp(SIZE_PATTERN);
const SIZE_HINT = 'Write a byte count or a number with a unit: 512MiB, 2GiB (binary) or 2GB (decimal).';

/** Parse `2GiB`, `512MiB`, `1.5GiB`, `4096` or `2GB` into bytes. */
export function parseSizeValue(input: unknown): Parsed<number> {
  if (typeof input === 'number') {
    if (Number.isSafeInteger(input) && input >= 0) return { ok: true, value: input };
    return {
      ok: false,
      message: `size must be a whole, non-negative number of bytes, got ${input}`,
      hint: SIZE_HINT,
    };
  }
  if (typeof input !== 'string') return { ok: false, message: 'expected a size', hint: SIZE_HINT };
  const m = SIZE_RE.exec(input);
  if (!m) {
    const bare = /^\s*[0-9.]+\s*([KMGT])\s*$/i.exec(input);
    const hint = bare
      ? `"${bare[1]}" is ambiguous: write ${bare[1]!.toUpperCase()}iB (binary) or ${bare[1]!.toUpperCase()}B (decimal).`
      : SIZE_HINT;
    return { ok: false, message: `not a size: ${JSON.stringify(input)}`, hint };
  }
  const number = Number(input.trim().replace(/[A-Za-z\s]+$/, ''));
  const unit = UNITS[m[2] ?? 'B']!;
  const bytes = number * unit;
  if (!Number.isSafeInteger(bytes)) {
    return {
      ok: false,
      message: `size ${JSON.stringify(input)} is not a whole number of bytes or is too large`,
      hint: SIZE_HINT,
    };
  }
  return { ok: true, value: bytes };
}

/** Parse a size or throw `RECIPE_SIZE_INVALID`. */
export function parseSize(input: string | number): number {
  const r = parseSizeValue(input);
  if (!r.ok) throw new DroverError('RECIPE_SIZE_INVALID', r.message, { hint: r.hint });
  return r.value;
}

/** Render bytes as the largest binary unit that divides them exactly (`2GiB`, `1536MiB`, `4097B`). */
export function formatSize(bytes: number): string {
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB'] as const) {
    const f = UNITS[unit]!;
    if (bytes >= f && bytes % f === 0) return `${bytes / f}${unit}`;
  }
  return `${bytes}B`;
}

/** What a mode looks like: octal (`0644`, `755`, `0o644`) or symbolic (`u=rw,go=r`). */
export const MODE_PATTERN = '^(0o?[0-7]{1,4}|[0-7]{3,4}|([ugoa]*[-+=][rwxXst]*)(,[ugoa]*[-+=][rwxXst]*)*)$';
const MODE_HINT =
  'Write an octal mode in quotes or without the 0o prefix (0644, 0755) or a symbolic one (u=rw,go=r).';

/** Parse `0644`, `644`, `0o644` or `u=rwx,go=rx` (applied to 0) into a numeric mode. */
export function parseModeValue(input: unknown): Parsed<number> {
  if (typeof input === 'number') {
    return {
      ok: false,
      message: `mode ${input} is a plain number; its meaning is ambiguous`,
      hint: MODE_HINT,
    };
  }
  if (typeof input !== 'string') return { ok: false, message: 'expected a file mode', hint: MODE_HINT };
  const s = input.trim();
  const octal = /^(?:0o|0)?([0-7]{1,4})$/.exec(s);
  if (octal && (s.startsWith('0') || s.length >= 3))
    return { ok: true, value: Number.parseInt(octal[1]!, 8) };
  let mode = 0;
  const clauses = s.split(',');
  for (const clause of clauses) {
    const m = /^([ugoa]*)([-+=])([rwxXst]*)$/.exec(clause);
    if (!m) return { ok: false, message: `not a file mode: ${JSON.stringify(input)}`, hint: MODE_HINT };
    const who = m[1] === '' || m[1]!.includes('a') ? 'ugo' : m[1]!;
    let bits = 0;
    for (const w of who) {
      const shift = w === 'u' ? 6 : w === 'g' ? 3 : 0;
      for (const p of m[3]!) {
        if (p === 'r') bits |= 4 << shift;
        else if (p === 'w') bits |= 2 << shift;
        else if (p === 'x' || p === 'X') bits |= 1 << shift;
        else if (p === 's') bits |= w === 'u' ? 0o4000 : w === 'g' ? 0o2000 : 0;
        else if (p === 't') bits |= w === 'o' ? 0o1000 : 0;
      }
    }
    let mask = 0;
    for (const w of who) mask |= w === 'u' ? 0o4700 : w === 'g' ? 0o2070 : 0o1007;
    if (m[2] === '=') mode = (mode & ~mask) | bits;
    else if (m[2] === '+') mode |= bits;
    else mode &= ~bits;
  }
  return { ok: true, value: mode };
}

/** Parse a mode or throw `RECIPE_MODE_INVALID`. */
export function parseMode(input: string): number {
  const r = parseModeValue(input);
  if (!r.ok) throw new DroverError('RECIPE_MODE_INVALID', r.message, { hint: r.hint });
  return r.value;
}

/** `0644`. */
export function formatMode(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

/** `root:root`, `0:0`, `1000:users`; numbers become numeric ids. */
export const OWNER_PATTERN = '^([a-z_][a-z0-9_.-]*\\$?|[0-9]+)(:([a-z_][a-z0-9_.-]*\\$?|[0-9]+))?$';
const OWNER_RE = new RegExp(OWNER_PATTERN);

export interface Owner {
  /** Numeric uid, or a user name the builder looks up in the image's /etc/passwd. */
  user: number | string;
  /** Numeric gid, or a group name looked up in /etc/group. */
  group: number | string;
}

/** Parse `user[:group]` (names or numeric ids); the group defaults to the user. */
export function parseOwnerValue(input: unknown): Parsed<Owner> {
  const hint = 'Write user:group with names or numeric ids, e.g. root:root or 0:0.';
  if (typeof input === 'number' && Number.isSafeInteger(input) && input >= 0) {
    return { ok: true, value: { user: input, group: input } };
  }
  if (typeof input !== 'string' || !OWNER_RE.test(input)) {
    return { ok: false, message: `not an owner: ${JSON.stringify(input)}`, hint };
  }
  const [u, g] = input.split(':') as [string, string | undefined];
  const id = (s: string): number | string => (/^[0-9]+$/.test(s) ? Number(s) : s);
  return { ok: true, value: { user: id(u), group: id(g ?? u) } };
}

/** Check a path inside the image: absolute, normalized, no `..`. */
export function checkImagePath(input: string, allowRoot = true): Parsed<string> {
  const hint = 'Paths inside the image are absolute and normalized, e.g. /etc/motd.';
  if (!input.startsWith('/'))
    return { ok: false, message: `image path must be absolute: ${JSON.stringify(input)}`, hint };
  if (input.includes('\0')) return { ok: false, message: 'image path contains a NUL byte', hint };
  const segments = input.split('/').slice(1);
  if (input !== '/' && segments.some((s) => s === '' || s === '.' || s === '..')) {
    return {
      ok: false,
      message: `image path must be normalized (no empty, "." or ".." segments, no trailing slash): ${JSON.stringify(input)}`,
      hint,
    };
  }
  if (input === '/' && !allowRoot)
    return { ok: false, message: 'the image root "/" cannot be used here', hint };
  if (input.length > 4096) return { ok: false, message: 'image path is longer than 4096 characters', hint };
  return { ok: true, value: input };
}

/** Check a source path: relative to the recipe's folder and not escaping it. */
export function checkSourcePath(input: string): Parsed<string> {
  const hint = 'Sources are relative to the recipe file and stay inside its folder, e.g. files/motd.';
  if (input === '') return { ok: false, message: 'source path is empty', hint };
  if (input.startsWith('/') || /^[A-Za-z]:[\\/]/.test(input)) {
    return {
      ok: false,
      message: `source path must be relative to the recipe's folder: ${JSON.stringify(input)}`,
      hint,
    };
  }
  if (input.includes('\0')) return { ok: false, message: 'source path contains a NUL byte', hint };
  let depth = 0;
  for (const s of input.split(/[\\/]/)) {
    if (s === '..') depth--;
    else if (s !== '' && s !== '.') depth++;
    if (depth < 0)
      return {
        ok: false,
        message: `source path escapes the recipe's folder: ${JSON.stringify(input)}`,
        hint,
      };
  }
  return { ok: true, value: input };
}
