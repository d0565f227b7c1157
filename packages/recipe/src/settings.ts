import { DroverError } from '@drover/core';

export type SettingsValue =
  | string
  | number
  | boolean
  | null
  | SettingsValue[]
  | { [key: string]: SettingsValue };

export interface RenderSettingsOptions {
  format: 'toml' | 'json';
  values: Record<string, SettingsValue>;
}

/** Render a settings layer's values as TOML 1.0 or JSON (deterministic: keys in the order written). */
export function renderSettings(options: RenderSettingsOptions): string {
  if (options.format === 'json') return `${JSON.stringify(options.values, null, 2)}\n`;
  const lines: string[] = [];
  writeTable(options.values, [], lines);
  return `${lines.join('\n').replace(/^\n+/, '')}\n`;
}

/** Deep-merge settings values: mappings merge, anything else is replaced by the later value. */
export function mergeSettings(
  under: Record<string, SettingsValue>,
  over: Record<string, SettingsValue>,
): Record<string, SettingsValue> {
  const out: Record<string, SettingsValue> = { ...under };
  for (const [key, value] of Object.entries(over)) {
    const base = out[key];
    out[key] = isTable(base) && isTable(value) ? mergeSettings(base, value) : value;
  }
  return out;
}

function isTable(v: SettingsValue | undefined): v is { [key: string]: SettingsValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isTableArray(v: SettingsValue): v is { [key: string]: SettingsValue }[] {
  return Array.isArray(v) && v.length > 0 && v.every(isTable);
}

function writeTable(table: Record<string, SettingsValue>, path: string[], lines: string[]): void {
  const nested: [string, SettingsValue][] = [];
  for (const [key, value] of Object.entries(table)) {
    if (isTable(value) || isTableArray(value)) nested.push([key, value]);
    else lines.push(`${tomlKey(key)} = ${tomlValue(value, [...path, key])}`);
  }
  for (const [key, value] of nested) {
    const p = [...path, key];
    if (isTableArray(value)) {
      for (const item of value) {
        lines.push('', `[[${p.map(tomlKey).join('.')}]]`);
        writeTable(item, p, lines);
      }
    } else {
      const t = value as Record<string, SettingsValue>;
      const hasScalars = Object.values(t).some((v) => !isTable(v) && !isTableArray(v));
      if (hasScalars || Object.keys(t).length === 0) lines.push('', `[${p.map(tomlKey).join('.')}]`);
      writeTable(t, p, lines);
    }
  }
}

function tomlKey(key: string): string {
  return /^[A-Za-z0-9_-]+$/.test(key) ? key : tomlString(key);
}

function tomlString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function tomlValue(value: SettingsValue, path: string[]): string {
  if (value === null) {
    throw new DroverError('RECIPE_SETTINGS_INVALID', `settings ${path.join('.')}: TOML has no null value`, {
      hint: 'Remove the key, or render the settings as JSON.',
    });
  }
  if (typeof value === 'string') return tomlString(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'nan';
    if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
    if (Number.isInteger(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER) return String(value);
    const s = String(value);
    return /[.eE]/.test(s) ? s : `${s}.0`;
  }
  if (Array.isArray(value)) return `[${value.map((v, i) => tomlValue(v, [...path, String(i)])).join(', ')}]`;
  const items = Object.entries(value).map(([k, v]) => `${tomlKey(k)} = ${tomlValue(v, [...path, k])}`);
  return items.length === 0 ? '{}' : `{ ${items.join(', ')} }`;
}
