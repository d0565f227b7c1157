import { DroverError } from '@drover/core';
import { type PublishUpdateResult, publishUpdate, type Waves } from '@drover/sign';
import { Args, Flags } from '@oclif/core';
import { DroverCommand } from '../../command.js';
import { roleKeyFlags, roleKeysFromFlags } from './flags.js';

export default class RepoManifest extends DroverCommand {
  static override summary =
    'Add (or replace) a version in the update manifest (manifest.json) with its images and waves, and re-sign';
  static override description =
    'Reads the signed manifest.json target (if any), adds VERSION for VARIANT/ARCH with its images (added as ' +
    'targets) and waves, sets max_version for the whole variant/arch (default: VERSION), and re-signs targets, ' +
    'snapshot and timestamp. A wave is --wave BOUND=TIME: hosts whose seed (0..2047) is at most BOUND may start ' +
    'by TIME, interpolated by their seed relative to the previous bound (see docs/signing.md). TIME is RFC 3339 or ' +
    '+N[h|m|d] after --start (default now).';
  static override examples = [
    '<%= config.bin %> repo manifest repo --variant edge --arch x86_64 --version 1.2.0 --image root=out/edge-1.2.0-root.img --image hash=out/edge-1.2.0-root.verity --wave 128=+0h --wave 1024=+8h --wave 2048=+24h --keys-dir keys',
    '<%= config.bin %> repo manifest repo --variant edge --arch x86_64 --version 1.1.0 --image-target root=edge-1.1.0-root.img --max-version 1.1.0 --keys-dir keys',
  ];
  static override args = {
    dir: Args.string({ required: true, description: 'Repository directory' }),
  };
  static override flags = {
    ...roleKeyFlags,
    variant: Flags.string({ summary: 'Image variant.', required: true }),
    arch: Flags.string({ summary: 'Architecture (x86_64, aarch64).', required: true }),
    version: Flags.string({ summary: 'The version to add (major.minor.patch).', required: true }),
    'max-version': Flags.string({
      summary: 'Hosts of this variant/arch never go past this version (default: --version).',
    }),
    'min-version': Flags.string({
      summary: 'Hosts older than this skip this update (they need an intermediate release first).',
    }),
    image: Flags.string({
      summary: 'An image as KIND=FILE, added as a target (repeatable).',
      multiple: true,
    }),
    'image-target': Flags.string({
      summary: 'An image as KIND=TARGET already in the repository (repeatable).',
      multiple: true,
    }),
    wave: Flags.string({
      summary: 'A wave as SEED_BOUND=TIME (RFC 3339, or +N[h|m|d] after --start) (repeatable).',
      multiple: true,
    }),
    start: Flags.string({ summary: 'Start time relative wave times count from (RFC 3339; default now).' }),
    migration: Flags.string({
      summary: 'Migrations as FROM,TO=NAME[,NAME…] (repeatable).',
      multiple: true,
    }),
  };

  async run(): Promise<PublishUpdateResult> {
    const { args, flags } = await this.parse(RepoManifest);
    const start = flags.start ? parseTime(flags.start, '--start') : new Date();
    const waves: Waves = {};
    for (const w of flags.wave ?? []) {
      const [bound, time] = splitPair(w, '--wave', '512=2026-12-01T00:00:00Z');
      waves[bound] = waveTime(time, start);
    }
    const migrations: Record<string, string[]> = {};
    for (const m of flags.migration ?? []) {
      const [range, names] = splitPair(m, '--migration', '1.1.0,1.2.0=migrate_settings');
      const [from, to] = range.split(',').map((v) => v.trim());
      if (!from || !to)
        throw usage(`--migration ${JSON.stringify(m)} needs FROM,TO`, '1.1.0,1.2.0=migrate_settings');
      const key = `(${from}, ${to})`;
      migrations[key] = [...(migrations[key] ?? []), ...names.split(',').filter(Boolean)];
    }
    const keys = await roleKeysFromFlags(flags);
    const result = await publishUpdate(
      {
        dir: args.dir,
        variant: flags.variant,
        arch: flags.arch,
        version: flags.version,
        ...(flags['max-version'] ? { maxVersion: flags['max-version'] } : {}),
        ...(flags['min-version'] ? { minVersion: flags['min-version'] } : {}),
        waves,
        images: pairs(flags.image, '--image', 'root=out/root.img'),
        imageTargets: pairs(flags['image-target'], '--image-target', 'root=edge-1.1.0-root.img'),
        ...(Object.keys(migrations).length ? { migrations } : {}),
        keys,
      },
      this.context(),
    );
    const u = result.update;
    this.log(
      `${u.variant}/${u.arch} ${u.version} (max_version ${u.max_version}${u.min_version ? `, min_version ${u.min_version}` : ''}): ` +
        `${Object.keys(u.waves).length} wave(s), images ${Object.entries(u.images)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`,
    );
    this.log(
      `manifest.json has ${result.manifest.updates.length} update(s); targets v${result.repository.roles.targets.version}, timestamp v${result.repository.roles.timestamp.version}`,
    );
    return result;
  }
}

function usage(message: string, example: string): DroverError {
  return new DroverError('USAGE', message, { kind: 'usage', hint: `e.g. ${example}` });
}

function splitPair(value: string, flag: string, example: string): [string, string] {
  const i = value.indexOf('=');
  if (i <= 0 || i === value.length - 1)
    throw usage(`${flag} ${JSON.stringify(value)} is not KEY=VALUE`, `${flag} ${example}`);
  return [value.slice(0, i), value.slice(i + 1)];
}

function pairs(values: string[] | undefined, flag: string, example: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const [k, val] = splitPair(v, flag, example);
    if (k in out) throw usage(`${flag} names ${k} twice`, `${flag} ${example}`);
    out[k] = val;
  }
  return out;
}

function parseTime(value: string, flag: string): Date {
  const t = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || !Number.isFinite(t)) {
    throw usage(`${flag} ${JSON.stringify(value)} is not an RFC 3339 time`, `${flag} 2026-12-01T00:00:00Z`);
  }
  return new Date(t);
}

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

function waveTime(value: string, start: Date): string {
  const rel = /^\+(\d+(?:\.\d+)?)([mhd])$/.exec(value);
  const date = rel
    ? new Date(start.getTime() + Number(rel[1]) * UNIT_MS[rel[2] as keyof typeof UNIT_MS])
    : parseTime(value, '--wave');
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
