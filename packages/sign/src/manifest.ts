import { DroverError } from '@drover/core';

/** Hosts carry a seed in 0..MAX_SEED-1; wave bounds go up to MAX_SEED. */
export const MAX_SEED = 2048;

/** Seed bound (as a decimal string) → RFC 3339 start time, as in Bottlerocket's manifest. */
export type Waves = Record<string, string>;

/** One available update for a variant and arch. */
export interface ManifestUpdate {
  variant: string;
  arch: string;
  version: string;
  /** Hosts never update past this version, whatever else is listed. */
  max_version: string;
  /**
   * drover extension (not in Bottlerocket's format): hosts running an older version skip this update and must
   * first move to an intermediate release.
   */
  min_version?: string;
  waves: Waves;
  /** Target names of the images (Bottlerocket: boot, root, hash (verity)). */
  images: Record<string, string>;
}

/** The update manifest target (`manifest.json`): available updates and migrations between versions. */
export interface UpdateManifest {
  updates: ManifestUpdate[];
  /** Keyed `"(from, to)"`: the migration targets to run when moving from one version to the next. */
  migrations: Record<string, string[]>;
}

interface ParsedWave {
  bound: number;
  time: number;
}

/** Parse and check waves: integer bounds in 1..2048, valid times, times non-decreasing as bounds grow. */
export function parseWaves(waves: Waves): ParsedWave[] {
  const parsed: ParsedWave[] = [];
  for (const [key, value] of Object.entries(waves)) {
    const bound = Number(key);
    if (!/^\d+$/.test(key) || bound < 1 || bound > MAX_SEED) {
      throw wavesInvalid(`seed bound ${JSON.stringify(key)} is not a whole number in 1..${MAX_SEED}`);
    }
    const time = typeof value === 'string' ? Date.parse(value) : Number.NaN;
    if (!Number.isFinite(time) || !/^\d{4}-\d{2}-\d{2}T/.test(value)) {
      throw wavesInvalid(`start time of wave ${key} is not an RFC 3339 time: ${JSON.stringify(value)}`);
    }
    parsed.push({ bound, time });
  }
  parsed.sort((a, b) => a.bound - b.bound);
  for (let i = 1; i < parsed.length; i++) {
    const prev = parsed[i - 1] as ParsedWave;
    const cur = parsed[i] as ParsedWave;
    if (cur.time < prev.time) {
      throw wavesInvalid(
        `wave ${cur.bound} starts before wave ${prev.bound}; later seed bounds need later times`,
      );
    }
  }
  return parsed;
}

/**
 * When a host with `seed` may start updating. Bounds s_0 < … < s_n with times t_0 ≤ … ≤ t_n:
 * seeds ≤ s_0 start at t_0; a seed in (s_{k-1}, s_k] starts at
 * t_{k-1} + (t_k − t_{k-1}) × (seed − s_{k-1}) / (s_k − s_{k-1}) — interpolated by its position *within* the wave
 * (updog uses the absolute seed there, which pushes most of a wave to its end); seeds above s_n start at t_n.
 * Returns undefined when there are no waves (no constraint).
 */
export function waveStartFor(options: { waves: Waves; seed: number }): Date | undefined {
  const { seed } = options;
  if (!Number.isInteger(seed) || seed < 0 || seed >= MAX_SEED) {
    throw new DroverError('SEED_INVALID', `seed must be a whole number in 0..${MAX_SEED - 1}, got ${seed}`, {
      hint: 'Each host draws its seed once, uniformly at random, and keeps it.',
    });
  }
  const waves = parseWaves(options.waves);
  if (waves.length === 0) return undefined;
  const first = waves[0] as ParsedWave;
  if (seed <= first.bound) return new Date(first.time);
  for (let k = 1; k < waves.length; k++) {
    const lo = waves[k - 1] as ParsedWave;
    const hi = waves[k] as ParsedWave;
    if (seed <= hi.bound) {
      const offset = Math.floor(((hi.time - lo.time) * (seed - lo.bound)) / (hi.bound - lo.bound));
      return new Date(lo.time + offset);
    }
  }
  return new Date((waves[waves.length - 1] as ParsedWave).time);
}

/** True when a host with `seed` may update at `now` under these waves. */
export function isWaveReady(options: { waves: Waves; seed: number; now: Date }): boolean {
  const start = waveStartFor(options);
  return start === undefined || start.getTime() <= options.now.getTime();
}

/** Build waves from a start time and steps of (seed bound, hours after start). */
export function planWaves(options: { start: Date; steps: { bound: number; afterHours: number }[] }): Waves {
  const waves: Waves = {};
  for (const step of options.steps) {
    waves[String(step.bound)] = new Date(options.start.getTime() + step.afterHours * 3_600_000)
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
  }
  parseWaves(waves);
  return waves;
}

/** Validate a parsed manifest.json; UPDATE_MANIFEST_INVALID names the first problem. */
export function parseUpdateManifest(json: unknown): UpdateManifest {
  const doc = json as Partial<UpdateManifest> | null;
  if (typeof doc !== 'object' || doc === null || !Array.isArray(doc.updates)) {
    throw manifestInvalid('expected an object with an "updates" array');
  }
  for (const [i, u] of doc.updates.entries()) {
    for (const field of ['variant', 'arch', 'version', 'max_version'] as const) {
      if (typeof u?.[field] !== 'string' || u[field] === '')
        throw manifestInvalid(`updates[${i}].${field} must be a string`);
    }
    parseVersion(u.version);
    parseVersion(u.max_version);
    if (u.min_version !== undefined) {
      if (typeof u.min_version !== 'string')
        throw manifestInvalid(`updates[${i}].min_version must be a string`);
      if (compareVersions(u.min_version, u.version) > 0)
        throw manifestInvalid(
          `updates[${i}].min_version ${u.min_version} is newer than its version ${u.version}`,
        );
    }
    if (typeof u.waves !== 'object' || u.waves === null)
      throw manifestInvalid(`updates[${i}].waves must be an object`);
    parseWaves(u.waves);
    if (typeof u.images !== 'object' || u.images === null)
      throw manifestInvalid(`updates[${i}].images must be an object`);
  }
  const migrations = doc.migrations ?? {};
  for (const [key, list] of Object.entries(migrations)) {
    if (!MIGRATION_KEY.test(key))
      throw manifestInvalid(`migration key ${JSON.stringify(key)} is not "(from, to)"`);
    if (!Array.isArray(list) || list.some((m) => typeof m !== 'string')) {
      throw manifestInvalid(`migrations[${key}] must be a list of target names`);
    }
  }
  return { updates: doc.updates, migrations };
}

const MIGRATION_KEY = /^\(\s*([^,\s]+)\s*,\s*([^,\s)]+)\s*\)$/;

/** Add (or replace, same variant/arch/version) an update and set max_version for that variant/arch. Pure. */
export function addUpdate(options: {
  manifest?: UpdateManifest;
  update: Omit<ManifestUpdate, 'max_version'> & { max_version?: string };
  migrations?: Record<string, string[]>;
}): UpdateManifest {
  const base = options.manifest ?? { updates: [], migrations: {} };
  const u = options.update;
  parseVersion(u.version);
  parseWaves(u.waves);
  const maxVersion = u.max_version ?? u.version;
  parseVersion(maxVersion);
  if (u.min_version !== undefined && compareVersions(u.min_version, u.version) > 0) {
    throw manifestInvalid(`min_version ${u.min_version} is newer than version ${u.version}`);
  }
  const updates = base.updates
    .filter((x) => !(x.variant === u.variant && x.arch === u.arch && x.version === u.version))
    .map((x) => (x.variant === u.variant && x.arch === u.arch ? { ...x, max_version: maxVersion } : x));
  updates.push({ ...u, max_version: maxVersion });
  updates.sort(
    (a, b) =>
      a.variant.localeCompare(b.variant) ||
      a.arch.localeCompare(b.arch) ||
      compareVersions(b.version, a.version),
  );
  return { updates, migrations: { ...base.migrations, ...options.migrations } };
}

/** What a host should update to now: the newest version ≤ max_version whose wave has reached it, and the migrations. */
export function selectUpdate(options: {
  manifest: UpdateManifest;
  variant: string;
  arch: string;
  currentVersion: string;
  seed: number;
  now: Date;
}): { update: ManifestUpdate; migrations: string[] } | undefined {
  const candidates = options.manifest.updates
    .filter((u) => u.variant === options.variant && u.arch === options.arch)
    .filter((u) => compareVersions(u.version, u.max_version) <= 0)
    .filter((u) => compareVersions(u.version, options.currentVersion) > 0)
    .filter((u) => u.min_version === undefined || compareVersions(options.currentVersion, u.min_version) >= 0)
    .filter((u) => isWaveReady({ waves: u.waves, seed: options.seed, now: options.now }))
    .sort((a, b) => compareVersions(b.version, a.version));
  const update = candidates[0];
  if (!update) return undefined;
  const migrations: string[] = [];
  for (const [key, list] of Object.entries(options.manifest.migrations)) {
    const m = MIGRATION_KEY.exec(key);
    if (!m) continue;
    const from = m[1] as string;
    const to = m[2] as string;
    if (compareVersions(from, options.currentVersion) >= 0 && compareVersions(to, update.version) <= 0)
      migrations.push(...list);
  }
  return { update, migrations };
}

/** Compare semantic versions (major.minor.patch[-pre]); negative when a < b. */
export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  for (let i = 0; i < 3; i++) {
    const d = (pa.core[i] as number) - (pb.core[i] as number);
    if (d !== 0) return d;
  }
  if (pa.pre === pb.pre) return 0;
  if (pa.pre === undefined) return 1;
  if (pb.pre === undefined) return -1;
  return pa.pre < pb.pre ? -1 : 1;
}

function parseVersion(v: string): { core: number[]; pre?: string } {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$/.exec(v);
  if (!m) {
    throw manifestInvalid(`version ${JSON.stringify(v)} is not major.minor.patch`);
  }
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], ...(m[4] ? { pre: m[4] } : {}) };
}

function wavesInvalid(message: string): DroverError {
  return new DroverError('WAVES_INVALID', message, {
    hint: 'Waves map seed bounds (1..2048) to RFC 3339 start times, e.g. {"512": "2026-01-01T00:00:00Z", "2048": "2026-01-02T00:00:00Z"}.',
  });
}

function manifestInvalid(message: string): DroverError {
  return new DroverError('UPDATE_MANIFEST_INVALID', `update manifest: ${message}`, {
    hint: 'See docs/signing.md for the manifest.json format (updates with variant, arch, version, max_version, waves, images).',
  });
}
