import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type Context,
  DroverError,
  resolveContext,
  temporaryPathFor,
  throwIfAborted,
  toDroverError,
  writeAtomically,
} from '@drover/core';
import {
  type Key,
  Metadata,
  MetaFile,
  Root,
  Signature,
  Snapshot,
  TargetFile,
  Targets,
  Timestamp,
} from '@tufjs/models';
import { parseUpdateManifest } from '../manifest.js';
import { canonicalBytes, type TufKey, tufKeyFor } from './keys.js';

type Signed = Root | Targets | Snapshot | Timestamp;
/** A role entry of root metadata (constructed through JSON: @tufjs/models does not export its Role class). */
type Role = Root['roles'][string];

export type TufRole = 'root' | 'targets' | 'snapshot' | 'timestamp';
export const TUF_ROLES: readonly TufRole[] = ['root', 'targets', 'snapshot', 'timestamp'];
const SPEC_VERSION = '1.0.31';
const SETTINGS_FILE = 'drover-repo.json';
const DAY_MS = 86_400_000;

/** Per-role signing threshold and lifetime of freshly signed metadata. */
export interface RoleSettings {
  threshold: number;
  /** Lifetime in days (fractions allowed: 0.5 = 12 hours). */
  expiresDays: number;
}

/** Repository settings kept next to (not inside) the published `metadata/` and `targets/` folders. */
export interface RepositorySettings {
  consistentSnapshot: boolean;
  roles: Record<TufRole, RoleSettings>;
}

export const DEFAULT_ROLE_SETTINGS: Record<TufRole, RoleSettings> = {
  root: { threshold: 1, expiresDays: 365 },
  targets: { threshold: 1, expiresDays: 90 },
  snapshot: { threshold: 1, expiresDays: 7 },
  timestamp: { threshold: 1, expiresDays: 1 },
};

/** Role keys available for an operation: only the roles being signed need keys. */
export type RoleKeys = Partial<Record<TufRole, TufKey[]>>;

/** What a repository holds now. */
export interface RepositoryStatus {
  dir: string;
  consistentSnapshot: boolean;
  roles: Record<TufRole, { version: number; expires: string; threshold: number; keyIds: string[] }>;
  targets: { name: string; length: number; sha256: string; custom?: Record<string, unknown> }[];
  /** Files written by this operation, relative to `dir`. */
  written: string[];
}

interface LoadedRepository {
  dir: string;
  settings: RepositorySettings;
  root: Root;
  targets: Targets;
  snapshot: Snapshot;
  timestamp: Timestamp;
  written: string[];
}

export interface InitRepositoryOptions {
  dir: string;
  /** Keys for every role; the first `threshold` of each sign. */
  keys: Record<TufRole, TufKey[]>;
  roles?: Partial<Record<TufRole, Partial<RoleSettings>>>;
  /** Defaults to true (`N.root.json`, `N.targets.json`, `N.snapshot.json`, hash-prefixed targets). */
  consistentSnapshot?: boolean;
  /** Clock for expiry dates (tests). */
  now?: Date;
}

/** Create a new TUF repository: version 1 of every role, signed, in `dir/metadata`, with an empty `dir/targets`. */
export async function initRepository(
  options: InitRepositoryOptions,
  ctx: Context = {},
): Promise<RepositoryStatus> {
  const { logger } = resolveContext(ctx);
  const { dir } = options;
  if (await exists(join(dir, SETTINGS_FILE))) {
    throw new DroverError('TUF_REPO_EXISTS', `${dir} already holds a drover TUF repository`, {
      kind: 'conflict',
      hint: 'Use `drover repo add` to change it, or choose an empty directory.',
    });
  }
  const roles = {} as Record<TufRole, RoleSettings>;
  for (const role of TUF_ROLES) {
    roles[role] = { ...DEFAULT_ROLE_SETTINGS[role], ...options.roles?.[role] };
    validateRoleSettings(role, roles[role]);
  }
  const settings: RepositorySettings = { consistentSnapshot: options.consistentSnapshot ?? true, roles };
  const now = options.now ?? new Date();
  const keys: Record<string, Key> = {};
  const roleMap: Record<string, Role> = {};
  for (const role of TUF_ROLES) {
    const roleKeys = options.keys[role] ?? [];
    const ids = roleKeys
      .map((k) => tufKeyFor(k.publicKey))
      .map((k) => {
        keys[k.keyID] = k;
        return k.keyID;
      });
    const unique = [...new Set(ids)];
    if (unique.length < roles[role].threshold)
      throw thresholdNotMet(role, unique.length, roles[role].threshold);
    roleMap[role] = newRole(unique, roles[role].threshold);
  }
  const root = new Root({
    version: 1,
    specVersion: SPEC_VERSION,
    expires: expiry(now, roles.root.expiresDays),
    keys,
    roles: roleMap,
    consistentSnapshot: settings.consistentSnapshot,
  });
  await mkdir(join(dir, 'metadata'), { recursive: true });
  await mkdir(join(dir, 'targets'), { recursive: true });
  const repo: LoadedRepository = {
    dir,
    settings,
    root,
    targets: new Targets({
      version: 0,
      specVersion: SPEC_VERSION,
      expires: expiry(now, roles.targets.expiresDays),
    }),
    snapshot: new Snapshot({ version: 0, specVersion: SPEC_VERSION, expires: expiry(now, 1) }),
    timestamp: new Timestamp({ version: 0, specVersion: SPEC_VERSION, expires: expiry(now, 1) }),
    written: [],
  };
  await writeRoot(repo, root, [root], options.keys.root);
  await publishTargets(repo, {}, options.keys, now);
  await writeFile(join(dir, SETTINGS_FILE), `${JSON.stringify(settings, null, 2)}\n`);
  logger.info(`initialized TUF repository in ${dir}`);
  return status(repo);
}

export interface TargetInput {
  /** Local file to add. */
  file: string;
  /** Target name (defaults to the file's base name). */
  name?: string;
  /** TUF `custom` data. */
  custom?: Record<string, unknown>;
}

export interface AddTargetsOptions {
  dir: string;
  targets: TargetInput[];
  /** targets, snapshot and timestamp keys. */
  keys: RoleKeys;
  now?: Date;
}

/** Add (or replace) targets: copy each file into `targets/` (hash-prefixed), then re-sign targets, snapshot, timestamp. */
export async function addTargets(options: AddTargetsOptions, ctx: Context = {}): Promise<RepositoryStatus> {
  const { logger } = resolveContext(ctx);
  const repo = await loadRepository(options.dir);
  const now = options.now ?? new Date();
  assertKeys(repo, ['targets', 'snapshot', 'timestamp'], options.keys);
  const targets = { ...repo.targets.targets };
  const named = options.targets.map((input) => ({
    input,
    name: input.name ?? posix.basename(input.file.replaceAll('\\', '/')),
  }));
  // Check everything before copying anything, so a bad input leaves the repository as it was.
  for (const { input, name } of named) {
    validateTargetName(name);
    if (posix.basename(name) === 'manifest.json') await checkManifestFile(input.file);
  }
  for (const { input, name } of named) {
    throwIfAborted(ctx);
    const { length, sha256 } = await storeTarget(repo, input.file, name);
    targets[name] = new TargetFile({
      path: name,
      length,
      hashes: { sha256 },
      ...(input.custom ? { unrecognizedFields: { custom: input.custom as never } } : {}),
    });
    logger.info(`added target ${name}`, { length, sha256 });
  }
  await publishTargets(repo, targets, options.keys, now);
  return status(repo);
}

export interface RemoveTargetsOptions {
  dir: string;
  names: string[];
  keys: RoleKeys;
  now?: Date;
}

/** Remove targets from the targets metadata (files stay for clients still on an older snapshot) and re-sign. */
export async function removeTargets(
  options: RemoveTargetsOptions,
  ctx: Context = {},
): Promise<RepositoryStatus> {
  const { logger } = resolveContext(ctx);
  const repo = await loadRepository(options.dir);
  assertKeys(repo, ['targets', 'snapshot', 'timestamp'], options.keys);
  const targets = { ...repo.targets.targets };
  for (const name of options.names) {
    if (!(name in targets)) {
      throw new DroverError('TUF_TARGET_NOT_FOUND', `target ${name} is not in the repository`, {
        kind: 'not-found',
        hint: `Known targets: ${Object.keys(targets).join(', ') || '(none)'}.`,
      });
    }
    delete targets[name];
    logger.info(`removed target ${name}`);
  }
  await publishTargets(repo, targets, options.keys, options.now ?? new Date());
  return status(repo);
}

export interface RefreshRepositoryOptions {
  dir: string;
  /** snapshot and timestamp keys (only the roles that need re-signing are used). */
  keys: RoleKeys;
  now?: Date;
  /** Re-sign a role when it expires within this many days; defaults to half of the role's lifetime. */
  withinDays?: Partial<Record<'targets' | 'snapshot' | 'timestamp', number>>;
  /** Re-sign snapshot and timestamp regardless of expiry. */
  force?: boolean;
}

/** Re-sign metadata that is about to expire: timestamp and snapshot (and targets when it is close too). */
export async function refreshRepository(
  options: RefreshRepositoryOptions,
  ctx: Context = {},
): Promise<RepositoryStatus & { refreshed: TufRole[] }> {
  const { logger } = resolveContext(ctx);
  const repo = await loadRepository(options.dir);
  const now = options.now ?? new Date();
  const due = (role: 'targets' | 'snapshot' | 'timestamp'): boolean => {
    const within = options.withinDays?.[role] ?? repo.settings.roles[role].expiresDays / 2;
    return Date.parse(repo[role].expires) - now.getTime() <= within * DAY_MS;
  };
  const refreshed: TufRole[] = [];
  if (due('targets')) {
    assertKeys(repo, ['targets', 'snapshot', 'timestamp'], options.keys);
    await publishTargets(repo, repo.targets.targets, options.keys, now);
    refreshed.push('targets', 'snapshot', 'timestamp');
  } else if (options.force || due('snapshot')) {
    assertKeys(repo, ['snapshot', 'timestamp'], options.keys);
    await publishSnapshot(repo, options.keys, now);
    refreshed.push('snapshot', 'timestamp');
  } else if (due('timestamp')) {
    assertKeys(repo, ['timestamp'], options.keys);
    await publishTimestamp(repo, options.keys, now);
    refreshed.push('timestamp');
  }
  logger.info(refreshed.length ? `re-signed ${refreshed.join(', ')}` : 'nothing due for re-signing');
  return { ...status(repo), refreshed };
}

export interface RotateRootOptions {
  dir: string;
  /** Keys of the current root role (a threshold of them must sign the new root). */
  currentRootKeys: TufKey[];
  /** New key sets; roles left out keep their keys. The new root keys must also sign (a threshold of them). */
  newKeys: RoleKeys;
  /** New thresholds (optional). */
  thresholds?: Partial<Record<TufRole, number>>;
  now?: Date;
}

/** Write root version N+1 with new keys, signed by a threshold of the old root keys and of the new ones. */
export async function rotateRoot(options: RotateRootOptions, ctx: Context = {}): Promise<RepositoryStatus> {
  const { logger } = resolveContext(ctx);
  const repo = await loadRepository(options.dir);
  const now = options.now ?? new Date();
  const old = repo.root;
  const keys: Record<string, Key> = {};
  const roles: Record<string, Role> = {};
  for (const role of TUF_ROLES) {
    const threshold = options.thresholds?.[role] ?? old.roles[role]?.threshold ?? 1;
    const replacement = options.newKeys[role];
    const roleKeys: Key[] = replacement
      ? replacement.map((k) => tufKeyFor(k.publicKey))
      : (old.roles[role]?.keyIDs ?? []).map((id) => old.keys[id] as Key);
    for (const k of roleKeys) keys[k.keyID] = k;
    const ids = roleKeys.map((k) => k.keyID);
    const unique = [...new Set(ids)];
    if (unique.length < threshold) throw thresholdNotMet(role, unique.length, threshold);
    roles[role] = newRole(unique, threshold);
    repo.settings.roles[role].threshold = threshold;
  }
  const next = new Root({
    version: old.version + 1,
    specVersion: SPEC_VERSION,
    expires: expiry(now, repo.settings.roles.root.expiresDays),
    keys,
    roles,
    consistentSnapshot: old.consistentSnapshot,
  });
  const signers = [...options.currentRootKeys, ...(options.newKeys.root ?? [])];
  await writeRoot(repo, next, [old, next], signers);
  repo.root = next;
  await writeFile(join(repo.dir, SETTINGS_FILE), `${JSON.stringify(repo.settings, null, 2)}\n`);
  logger.info(`rotated root to version ${next.version}`);
  return status(repo);
}

/** Read a repository's current state (no keys needed). */
export async function readRepository(options: { dir: string }): Promise<RepositoryStatus> {
  return status(await loadRepository(options.dir));
}

// ---- internals ----

async function publishTargets(
  repo: LoadedRepository,
  targets: Record<string, TargetFile>,
  keys: RoleKeys,
  now: Date,
): Promise<void> {
  const next = new Targets({
    version: repo.targets.version + 1,
    specVersion: SPEC_VERSION,
    expires: expiry(now, repo.settings.roles.targets.expiresDays),
    targets,
  });
  const file = repo.settings.consistentSnapshot ? `${next.version}.targets.json` : 'targets.json';
  await writeMetadata(repo, file, next, 'targets', keys.targets ?? []);
  repo.targets = next;
  await publishSnapshot(repo, keys, now);
}

async function publishSnapshot(repo: LoadedRepository, keys: RoleKeys, now: Date): Promise<void> {
  const next = new Snapshot({
    version: repo.snapshot.version + 1,
    specVersion: SPEC_VERSION,
    expires: expiry(now, repo.settings.roles.snapshot.expiresDays),
    meta: { 'targets.json': new MetaFile({ version: repo.targets.version }) },
  });
  const file = repo.settings.consistentSnapshot ? `${next.version}.snapshot.json` : 'snapshot.json';
  const bytes = await writeMetadata(repo, file, next, 'snapshot', keys.snapshot ?? []);
  repo.snapshot = next;
  await publishTimestamp(repo, keys, now, bytes);
}

async function publishTimestamp(
  repo: LoadedRepository,
  keys: RoleKeys,
  now: Date,
  snapshotBytes?: Buffer,
): Promise<void> {
  const bytes =
    snapshotBytes ??
    (await readFile(
      join(
        repo.dir,
        'metadata',
        repo.settings.consistentSnapshot ? `${repo.snapshot.version}.snapshot.json` : 'snapshot.json',
      ),
    ));
  const next = new Timestamp({
    version: repo.timestamp.version + 1,
    specVersion: SPEC_VERSION,
    expires: expiry(now, repo.settings.roles.timestamp.expiresDays),
    snapshotMeta: new MetaFile({
      version: repo.snapshot.version,
      length: bytes.length,
      hashes: { sha256: createHash('sha256').update(bytes).digest('hex') },
    }),
  });
  await writeMetadata(repo, 'timestamp.json', next, 'timestamp', keys.timestamp ?? []);
  repo.timestamp = next;
}

async function writeRoot(
  repo: LoadedRepository,
  root: Root,
  authorities: Root[],
  keys: TufKey[] | undefined,
): Promise<void> {
  const signatures = await signWith(root, authorities, 'root', keys ?? []);
  const metadata = new Metadata(root, signatures);
  // Every authority (old root and new root) must find its threshold of signatures, or clients reject the rotation.
  for (const authority of authorities) verifyThreshold(authority, 'root', metadata);
  const bytes = serialize(metadata);
  await writeMetadataFile(repo, `${root.version}.root.json`, bytes);
  await writeMetadataFile(repo, 'root.json', bytes);
}

async function writeMetadata(
  repo: LoadedRepository,
  file: string,
  signed: Targets | Snapshot | Timestamp,
  role: Exclude<TufRole, 'root'>,
  keys: TufKey[],
): Promise<Buffer> {
  const signatures = await signWith(signed, [repo.root], role, keys);
  const metadata = new Metadata(signed, signatures);
  verifyThreshold(repo.root, role, metadata);
  const bytes = serialize(metadata);
  await writeMetadataFile(repo, file, bytes);
  return bytes;
}

async function signWith(
  signed: Signed,
  authorities: Root[],
  role: TufRole,
  keys: TufKey[],
): Promise<Record<string, Signature>> {
  const wanted = new Set(authorities.flatMap((a) => a.roles[role]?.keyIDs ?? []));
  const data = canonicalBytes(signed.toJSON());
  const signatures: Record<string, Signature> = {};
  for (const key of keys) {
    const keyID = tufKeyFor(key.publicKey).keyID;
    if (!wanted.has(keyID) || signatures[keyID]) continue;
    const { signature } = await key.signer.sign({ payload: data });
    signatures[keyID] = new Signature({ keyID, sig: signature.toString('hex') });
  }
  return signatures;
}

function verifyThreshold(
  authority: Root,
  role: TufRole,
  metadata: Metadata<Root | Targets | Snapshot | Timestamp>,
): void {
  const r = authority.roles[role];
  const threshold = r?.threshold ?? 1;
  let valid = 0;
  for (const id of r?.keyIDs ?? []) {
    if (!metadata.signatures[id]) continue;
    try {
      // Reuse @tufjs/models' own signature check: it is what clients run.
      authority.keys[id]?.verifySignature(metadata as never);
      valid++;
    } catch {
      // an invalid signature simply does not count
    }
  }
  if (valid < threshold) throw thresholdNotMet(role, valid, threshold);
}

function serialize(metadata: Metadata<Root | Targets | Snapshot | Timestamp>): Buffer {
  return Buffer.from(`${JSON.stringify(metadata.toJSON(), null, 2)}\n`);
}

async function writeMetadataFile(repo: LoadedRepository, file: string, bytes: Buffer): Promise<void> {
  await writeAtomically(join(repo.dir, 'metadata', file), (tmp) => writeFile(tmp, bytes));
  repo.written.push(`metadata/${file}`);
}

async function storeTarget(
  repo: LoadedRepository,
  file: string,
  name: string,
): Promise<{ length: number; sha256: string }> {
  const dir = join(repo.dir, 'targets', dirname(name));
  await mkdir(dir, { recursive: true });
  const tmp = temporaryPathFor(join(dir, 'target'));
  const hash = createHash('sha256');
  let length = 0;
  try {
    await pipeline(
      createReadStream(file, { highWaterMark: 1 << 20 }),
      new Transform({
        transform(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          length += chunk.length;
          cb(null, chunk);
        },
      }),
      createWriteStream(tmp),
    );
    const sha256 = hash.digest('hex');
    const base = posix.basename(name);
    const stored = repo.settings.consistentSnapshot ? `${sha256}.${base}` : base;
    await rename(tmp, join(dir, stored));
    repo.written.push(
      posix.join('targets', posix.dirname(name), stored).replace(/^targets\/\.\//, 'targets/'),
    );
    return { length, sha256 };
  } catch (error) {
    await rm(tmp, { force: true });
    throw toDroverError(error, `adding target ${name}`);
  }
}

async function loadRepository(dir: string): Promise<LoadedRepository> {
  let settings: RepositorySettings;
  try {
    settings = JSON.parse(await readFile(join(dir, SETTINGS_FILE), 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new DroverError(
        'TUF_REPO_NOT_FOUND',
        `${dir} is not a drover TUF repository (no ${SETTINGS_FILE})`,
        {
          kind: 'not-found',
          hint: 'Create one with `drover repo init DIR`, or pass the directory you initialized.',
        },
      );
    }
    throw toDroverError(error, `reading ${SETTINGS_FILE}`);
  }
  const meta = join(dir, 'metadata');
  const names = await readdir(meta).catch((error: unknown) => {
    throw toDroverError(error, 'reading repository metadata');
  });
  const rootVersion = Math.max(
    0,
    ...names
      .map((n) => /^(\d+)\.root\.json$/.exec(n)?.[1])
      .filter(Boolean)
      .map(Number),
  );
  const root = Root.fromJSON((await readJson(join(meta, `${rootVersion}.root.json`))).signed);
  const timestamp = Timestamp.fromJSON((await readJson(join(meta, 'timestamp.json'))).signed);
  const cs = settings.consistentSnapshot;
  const snapshot = Snapshot.fromJSON(
    (await readJson(join(meta, cs ? `${timestamp.snapshotMeta.version}.snapshot.json` : 'snapshot.json')))
      .signed,
  );
  const targetsVersion = snapshot.meta['targets.json']?.version ?? 1;
  const targets = Targets.fromJSON(
    (await readJson(join(meta, cs ? `${targetsVersion}.targets.json` : 'targets.json'))).signed,
  );
  return { dir, settings, root, targets, snapshot, timestamp, written: [] };
}

async function readJson(path: string): Promise<{ signed: never }> {
  try {
    const json = JSON.parse(await readFile(path, 'utf8'));
    if (typeof json !== 'object' || json === null || typeof json.signed !== 'object')
      throw new Error('no "signed" object');
    return json;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code) throw toDroverError(error, 'reading TUF metadata');
    throw new DroverError(
      'TUF_METADATA_INVALID',
      `${path} is not TUF metadata: ${(error as Error).message}`,
      {
        hint: 'The repository is damaged; restore the metadata folder from its last published copy.',
        cause: error,
      },
    );
  }
}

function status(repo: LoadedRepository): RepositoryStatus {
  const role = (name: TufRole, signed: Signed) => ({
    version: signed.version,
    expires: signed.expires,
    threshold: repo.root.roles[name]?.threshold ?? 1,
    keyIds: repo.root.roles[name]?.keyIDs ?? [],
  });
  return {
    dir: repo.dir,
    consistentSnapshot: repo.settings.consistentSnapshot,
    roles: {
      root: role('root', repo.root),
      targets: role('targets', repo.targets),
      snapshot: role('snapshot', repo.snapshot),
      timestamp: role('timestamp', repo.timestamp),
    },
    targets: Object.values(repo.targets.targets)
      .map((t) => ({
        name: t.path,
        length: t.length,
        sha256: t.hashes.sha256 ?? '',
        ...(Object.keys(t.custom).length ? { custom: t.custom } : {}),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    written: [...repo.written],
  };
}

function assertKeys(repo: LoadedRepository, roles: TufRole[], keys: RoleKeys): void {
  for (const role of roles) {
    const r = repo.root.roles[role];
    const have = new Set(
      (keys[role] ?? []).map((k) => tufKeyFor(k.publicKey).keyID).filter((id) => r?.keyIDs.includes(id)),
    );
    if (have.size < (r?.threshold ?? 1)) throw thresholdNotMet(role, have.size, r?.threshold ?? 1);
  }
}

function thresholdNotMet(role: TufRole, have: number, threshold: number): DroverError {
  return new DroverError(
    'TUF_THRESHOLD_NOT_MET',
    `the ${role} role needs ${threshold} signature(s) from its keys, got ${have}`,
    {
      kind: 'denied',
      hint: `Pass ${threshold} of the ${role} role's private keys (--key ${role}=FILE), or lower the threshold with a root rotation.`,
      details: { role, have, threshold },
    },
  );
}

function validateRoleSettings(role: TufRole, s: RoleSettings): void {
  if (!Number.isInteger(s.threshold) || s.threshold < 1) {
    throw new DroverError(
      'TUF_THRESHOLD_INVALID',
      `${role} threshold must be a whole number >= 1, got ${s.threshold}`,
      {
        kind: 'usage',
        hint: 'Thresholds count signatures; use 1 or more.',
      },
    );
  }
  if (!(s.expiresDays > 0)) {
    throw new DroverError(
      'TUF_EXPIRY_INVALID',
      `${role} lifetime must be positive, got ${s.expiresDays} days`,
      {
        kind: 'usage',
        hint: 'Give the role lifetime in days, e.g. 365 for root and 1 for timestamp.',
      },
    );
  }
}

function validateTargetName(name: string): void {
  const parts = name.split('/');
  if (
    !name ||
    name.startsWith('/') ||
    parts.some((p) => p === '' || p === '.' || p === '..') ||
    name.includes('\\')
  ) {
    throw new DroverError('TUF_TARGET_NAME_INVALID', `invalid target name ${JSON.stringify(name)}`, {
      hint: 'Target names are relative paths without "..", empty segments or backslashes (e.g. "images/root-1.2.0.img").',
    });
  }
}

function expiry(now: Date, days: number): string {
  return new Date(now.getTime() + days * DAY_MS).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function newRole(keyIDs: string[], threshold: number): Role {
  const root = Root.fromJSON({
    _type: 'root',
    spec_version: SPEC_VERSION,
    version: 1,
    expires: '2000-01-01T00:00:00Z',
    consistent_snapshot: true,
    keys: {},
    roles: Object.fromEntries(TUF_ROLES.map((r) => [r, { keyids: keyIDs, threshold }])),
  });
  return root.roles.root as Role;
}

/** A target named manifest.json is the update manifest nodes read: refuse to sign a malformed one. */
async function checkManifestFile(file: string): Promise<void> {
  const size = (
    await stat(file).catch((e: unknown) => {
      throw toDroverError(e, 'reading update manifest');
    })
  ).size;
  if (size > 16 << 20) {
    throw new DroverError(
      'UPDATE_MANIFEST_INVALID',
      `update manifest ${file} is ${size} bytes; the limit is 16 MiB`,
      {
        hint: 'A manifest lists versions and waves; it should be a few kilobytes.',
      },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new DroverError('UPDATE_MANIFEST_INVALID', `update manifest ${file} is not JSON`, {
      hint: 'Fix the JSON syntax (or write it with `addUpdate`).',
      cause: error,
    });
  }
  parseUpdateManifest(json);
}
