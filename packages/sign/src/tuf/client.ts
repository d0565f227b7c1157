import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type Context, DroverError, resolveContext, throwIfAborted, toDroverError } from '@drover/core';
import { parseUpdateManifest, type UpdateManifest } from '../manifest.js';
import { serveDirectory } from './serve.js';

export interface VerifyRepositoryOptions {
  /** Base URL of the repository (serving `metadata/` and `targets/`), or… */
  url?: string;
  /** …a local repository directory, served on 127.0.0.1 for the walk. */
  dir?: string;
  /** The trusted root.json a client ships with (path or parsed JSON). */
  trustedRoot: string | object;
  /** Where the client keeps the metadata it trusted last time (rollback protection). Defaults to a fresh temp dir. */
  cacheDir?: string;
  /** Targets to download and check; defaults to all targets. */
  targets?: string[];
  /** Keep the downloaded (verified) targets in this directory, named by target path; default: discarded. */
  targetDir?: string;
}

export interface VerifyRepositoryResult {
  verified: true;
  url: string;
  roles: Record<'root' | 'targets' | 'snapshot' | 'timestamp', { version: number; expires: string }>;
  targets: { name: string; length: number; sha256: string }[];
}

/** Walk a TUF repository as a client (tuf-js): root chain, timestamp, snapshot, targets, then every target's hash. */
export async function verifyRepository(
  options: VerifyRepositoryOptions,
  ctx: Context = {},
): Promise<VerifyRepositoryResult> {
  const { logger } = resolveContext(ctx);
  if (!options.url === !options.dir) {
    throw new DroverError('TUF_SOURCE_MISSING', 'give exactly one of a repository URL or directory', {
      kind: 'usage',
      hint: 'Pass the repository base URL (serving metadata/ and targets/) or the local repository directory.',
    });
  }
  const served = options.dir ? await serveDirectory(options.dir) : undefined;
  const base = (served?.url ?? options.url ?? '').replace(/\/+$/, '');
  const scratch = await mkdtemp(join(tmpdir(), 'drover-tuf-'));
  const metadataDir = options.cacheDir ?? join(scratch, 'metadata');
  try {
    await mkdir(metadataDir, { recursive: true });
    await seedRoot(metadataDir, options.trustedRoot);
    // tuf-js (and its HTTP stack) loads only when a repository is verified.
    const { Updater } = await import('tuf-js');
    const targetDir = options.targetDir ?? join(scratch, 'targets');
    const updater = new Updater({
      metadataDir,
      metadataBaseUrl: `${base}/metadata`,
      targetDir,
      targetBaseUrl: `${base}/targets`,
      config: { fetchRetries: 0, userAgent: 'drover' },
    });
    await mkdir(targetDir, { recursive: true });
    await updater.refresh().catch((e: unknown) => {
      throw mapClientError(e);
    });
    const roles = {} as VerifyRepositoryResult['roles'];
    for (const role of ['root', 'timestamp', 'snapshot', 'targets'] as const) {
      const signed = JSON.parse(await readFile(join(metadataDir, `${role}.json`), 'utf8')).signed;
      roles[role] = { version: signed.version, expires: signed.expires };
    }
    const trustedTargets = JSON.parse(await readFile(join(metadataDir, 'targets.json'), 'utf8')).signed
      .targets as Record<string, unknown>;
    const names = options.targets ?? Object.keys(trustedTargets).sort();
    const targets: VerifyRepositoryResult['targets'] = [];
    for (const name of names) {
      throwIfAborted(ctx);
      const info = await updater.getTargetInfo(name).catch((e: unknown) => {
        throw mapClientError(e);
      });
      if (!info) {
        throw new DroverError(
          'TUF_TARGET_NOT_FOUND',
          `target ${name} is not in the repository's signed targets`,
          {
            kind: 'not-found',
            hint: `Signed targets: ${Object.keys(trustedTargets).join(', ') || '(none)'}.`,
          },
        );
      }
      const segments = name.split('/');
      // a signed name could still try to climb out of targetDir: such names are stored flat, escaped
      const filePath = segments.some((x) => x === '' || x === '.' || x === '..')
        ? join(targetDir, encodeURIComponent(name))
        : join(targetDir, ...segments);
      await mkdir(dirname(filePath), { recursive: true });
      await updater.downloadTarget(info, filePath).catch((e: unknown) => {
        throw mapClientError(e, name);
      });
      targets.push({ name, length: info.length, sha256: info.hashes.sha256 ?? '' });
      logger.debug(`target ${name} verified`);
    }
    logger.info(`repository verified: ${targets.length} target(s)`);
    return { verified: true, url: options.url ?? options.dir ?? base, roles, targets };
  } finally {
    await served?.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

export interface FetchUpdateManifestResult {
  manifest: UpdateManifest;
  repository: VerifyRepositoryResult;
}

/** Fetch the update manifest as a node would: walk the repository with tuf-js, download and parse manifest.json. */
export async function fetchUpdateManifest(
  options: Omit<VerifyRepositoryOptions, 'targets' | 'targetDir'>,
  ctx: Context = {},
): Promise<FetchUpdateManifestResult> {
  const targetDir = await mkdtemp(join(tmpdir(), 'drover-manifest-'));
  try {
    const repository = await verifyRepository({ ...options, targets: ['manifest.json'], targetDir }, ctx);
    const text = await readFile(join(targetDir, 'manifest.json'), 'utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new DroverError('UPDATE_MANIFEST_INVALID', 'the signed manifest.json is not JSON', {
        hint: 'Re-publish it with `drover repo manifest`.',
        cause: error,
      });
    }
    return { manifest: parseUpdateManifest(json), repository };
  } finally {
    await rm(targetDir, { recursive: true, force: true });
  }
}

async function seedRoot(metadataDir: string, trustedRoot: string | object): Promise<void> {
  const target = join(metadataDir, 'root.json');
  const existing = await readFile(target).catch(() => undefined);
  if (existing) return; // the cache already holds a (possibly newer) trusted root
  let bytes: Buffer;
  if (typeof trustedRoot === 'string') {
    try {
      bytes = await readFile(trustedRoot);
    } catch (error) {
      throw toDroverError(error, 'reading trusted root');
    }
  } else {
    bytes = Buffer.from(JSON.stringify(trustedRoot));
  }
  await writeFile(target, bytes);
}

/** Map tuf-js / @tufjs/models errors (by class name: they are not exported) to DroverErrors. */
function mapClientError(error: unknown, target?: string): DroverError {
  const name = (error as object | null)?.constructor?.name ?? '';
  const message = error instanceof Error ? error.message : String(error);
  const opts = { cause: error, details: { clientError: name, ...(target ? { target } : {}) } };
  switch (name) {
    case 'ExpiredMetadataError':
      return new DroverError('TUF_METADATA_EXPIRED', `repository metadata expired: ${message}`, {
        ...opts,
        kind: 'integrity',
        hint: 'The repository owner must run `drover repo refresh` (timestamp and snapshot expire quickly by design).',
      });
    case 'BadVersionError':
    case 'EqualVersionError':
      return new DroverError('TUF_ROLLBACK', `repository metadata went backwards: ${message}`, {
        ...opts,
        kind: 'integrity',
        hint: 'The server offers older metadata than this client already trusted (a rollback or freeze attack, or a stale mirror).',
      });
    case 'UnsignedMetadataError':
      return new DroverError(
        'TUF_THRESHOLD_NOT_MET',
        `repository metadata is not signed by enough trusted keys: ${message}`,
        {
          ...opts,
          kind: 'integrity',
          hint: 'The metadata was altered or signed with keys the trusted root does not list; rotate the root properly.',
        },
      );
    case 'LengthOrHashMismatchError':
    case 'DownloadLengthMismatchError':
      return new DroverError(
        target ? 'TUF_TARGET_HASH_MISMATCH' : 'TUF_METADATA_HASH_MISMATCH',
        `${target ? `target ${target}` : 'metadata'} does not match its signed length or hash: ${message}`,
        {
          ...opts,
          kind: 'integrity',
          hint: 'The file on the server was altered or corrupted; do not install it.',
        },
      );
    case 'DownloadHTTPError':
    case 'DownloadError':
    case 'FetchError':
      return new DroverError('TUF_FETCH_FAILED', `fetching from the repository failed: ${message}`, {
        ...opts,
        kind: 'unavailable',
        hint: 'Check the repository URL and that it serves metadata/ and targets/.',
      });
    default:
      if (error instanceof DroverError) return error;
      return new DroverError('TUF_VERIFY_FAILED', `repository verification failed: ${message}`, {
        ...opts,
        kind: 'integrity',
        hint: 'The repository metadata is malformed or inconsistent; re-publish it from the signing machine.',
      });
  }
}
