import { createHash } from 'node:crypto';
import { type FileHandle, mkdir, open as openFile, rename, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { Readable } from 'node:stream';
import {
  type Context,
  type DigestString,
  DroverError,
  isDigest,
  parseDigest,
  type ResolvedContext,
  resolveContext,
  temporaryPathFor,
  throwIfAborted,
  toDroverError,
} from '@drover/core';
import type { BlobStore } from '../blob-store.js';
import { type ParsedManifest, parseManifest } from '../manifest.js';
import { type Descriptor, type ImageIndex, MediaType } from '../media-types.js';
import { ByteReader } from '../tar.js';
import { digestMismatch, sizeMismatch, verifyBytes } from '../verify.js';
import { loadDockerCredentials, type RegistryCredentials } from './credentials.js';
import { type BlobDownload, DownloadPool } from './download-worker.js';
import {
  type Agents,
  createAgents,
  discard,
  type HttpRequest,
  type HttpResponse,
  parseChallenges,
  parseRetryAfter,
  readBody,
  send,
} from './http.js';
import { isLoopback, registryApiHost } from './reference.js';

/** Retry policy for transient failures (connection resets, 408, 429, 502, 503, 504). */
export interface RetryOptions {
  /** Attempts after the first (default 4). */
  retries: number;
  /** First backoff, ms (default 250); doubles each time, with full jitter. */
  baseDelayMs: number;
  /** Longest single wait, ms (default 30 s), also the cap on `Retry-After`. */
  maxDelayMs: number;
}

/** Options for a {@link RegistryClient}. */
export interface RegistryClientOptions {
  /** Registry host with optional port, e.g. `ghcr.io` or `127.0.0.1:5000`. */
  registry: string;
  /** Use plain HTTP for this registry (opt-in; meant for loopback test registries). */
  plainHttp?: boolean;
  /** CA certificates (PEM) to trust for HTTPS besides Node's bundled ones, e.g. a private registry's CA. */
  caCertificates?: string[];
  /** Explicit credentials; otherwise Docker's config.json (and credential helpers) are consulted. */
  credentials?: RegistryCredentials | null;
  /** Path of a Docker config.json to read credentials from (default `$DOCKER_CONFIG/config.json`). */
  dockerConfigPath?: string;
  retry?: Partial<RetryOptions>;
  /** Socket inactivity timeout, ms (default 60 s). */
  timeoutMs?: number;
  /** Blobs larger than this are uploaded in PATCH chunks of this size (default 16 MiB). */
  chunkSize?: number;
  userAgent?: string;
  /**
   * Worker threads that download blobs of 1 MiB or more: each sends its requests over sockets of its own and
   * hashes and writes what it receives, so no single thread carries all the HTTP, hashing and writing (default: 2,
   * or 1 on a single-CPU machine). 0 downloads everything on the calling thread.
   */
  downloadWorkers?: number;
  /** @deprecated Old name of {@link RegistryClientOptions.downloadWorkers}. */
  hashWorkers?: number;
}

/** A manifest fetched from a registry, verified against its digest. */
export interface FetchedManifest {
  descriptor: Descriptor;
  parsed: ParsedManifest;
}

/** What uploading one blob did. */
export type BlobPushOutcome = 'exists' | 'mounted' | 'uploaded';

/** Options for {@link RegistryClient.pushBlob}. */
export interface PushBlobOptions {
  /** Open the blob's bytes starting at `start` (used again to resume an interrupted upload). */
  open: (start: number) => Readable;
  /** Try a cross-repository mount from this repository first. */
  mountFrom?: string;
  onBytes?: (n: number) => void;
}

/** The referrers of a manifest, and where the list came from. */
export interface ReferrersResult {
  descriptors: Descriptor[];
  /** `api` (the registry's referrers API) or `tag` (the `sha256-<hex>` tag-schema fallback). */
  source: 'api' | 'tag';
}

/** Every manifest media type drover accepts, for `Accept`. */
export const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
].join(', ');

const RETRY_STATUS = new Set([408, 429, 502, 503, 504]);
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ECONNABORTED',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
]);
const MAX_MANIFEST = 4 << 20;
/** Bytes of a download that may wait for the disk write in flight before the socket pauses. */
const MAX_PENDING_WRITE = 4 << 20;
/** Blobs at least this large are downloaded (and hashed) on a worker thread. */
const WORKER_DOWNLOAD_MIN = 1 << 20;

interface RequestOptions {
  method: string;
  /** Path under the registry (`/v2/...`) or an absolute URL (upload locations). */
  url: string | URL;
  headers?: Record<string, string>;
  body?: Buffer | (() => Readable);
  /** Token scopes this request needs, e.g. `repository:app:pull`. */
  scopes: string[];
  /** Do not retry on transient failures (the caller handles them, e.g. resuming an upload). */
  noRetry?: boolean;
}

interface Token {
  value: string;
  expires: number;
}

/** True for a failure worth retrying: network errors and timeouts. */
export function isTransient(error: unknown): boolean {
  const e = error as { code?: string; cause?: { code?: string } } | undefined;
  if (!e) return false;
  if (e.code === 'REGISTRY_TIMEOUT' || e.code === 'REGISTRY_UNREACHABLE' || e.code === 'REGISTRY_RETRYABLE')
    return true;
  return (
    NETWORK_CODES.has(e.code ?? '') ||
    NETWORK_CODES.has(e.cause?.code ?? '') ||
    (error as Error)?.message === 'aborted'
  );
}

/**
 * A client for one registry (OCI distribution spec v1.1; Docker Registry HTTP API v2): manifests, blobs with
 * resumable downloads and uploads, cross-repository mounts, tags and referrers. Handles anonymous, basic and
 * bearer-token auth, retries with backoff and jitter honouring `Retry-After`, timeouts and aborts. Tokens and
 * passwords are never logged. Call {@link RegistryClient.close} when done.
 */
export class RegistryClient {
  readonly registry: string;
  readonly #base: URL;
  readonly #options: RegistryClientOptions;
  readonly #retry: RetryOptions;
  readonly #timeoutMs: number;
  readonly #agents: Agents;
  #downloads: DownloadPool | undefined;
  #credentials: RegistryCredentials | null | undefined;
  #scheme: 'none' | 'basic' | 'bearer' = 'none';
  #challenge: Record<string, string> = {};
  readonly #tokens = new Map<string, Token>();

  constructor(options: RegistryClientOptions) {
    this.registry = options.registry;
    this.#options = options;
    this.#base = new URL(`${options.plainHttp ? 'http' : 'https'}://${registryApiHost(options.registry)}`);
    this.#retry = { retries: 4, baseDelayMs: 250, maxDelayMs: 30_000, ...options.retry };
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#credentials = options.credentials;
    this.#agents = createAgents(options.caCertificates);
  }

  /** Close kept-alive connections (and stop the download workers). */
  close(): void {
    this.#agents.http.destroy();
    this.#agents.https.destroy();
    void this.#downloads?.close();
    this.#downloads = undefined;
  }

  /**
   * Start the download workers now rather than with the first large blob, so that their start-up (tens of ms)
   * overlaps other work, e.g. fetching the manifests of a pull.
   */
  prepareDownloads(): void {
    this.#downloadPool()?.prepare();
  }

  /** The download workers (started on first use), or undefined when downloads run on this thread. */
  #downloadPool(): DownloadPool | undefined {
    const size =
      this.#options.downloadWorkers ?? this.#options.hashWorkers ?? Math.min(2, availableParallelism());
    if (size < 1) return undefined;
    this.#downloads ??= new DownloadPool(size, this.#options.caCertificates);
    return this.#downloads;
  }

  /** Check the registry answers `/v2/` (authenticating if it asks). */
  async ping(ctx: Context = {}): Promise<void> {
    const res = await this.#request({ method: 'GET', url: '/v2/', scopes: [] }, ctx);
    discard(res);
    if (res.status !== 200) throw await this.#error(res, 'GET /v2/');
  }

  /** Fetch a manifest or index by tag or digest; its bytes are verified against the digest. */
  async getManifest(repository: string, reference: string, ctx: Context = {}): Promise<FetchedManifest> {
    const res = await this.#request(
      {
        method: 'GET',
        url: `/v2/${repository}/manifests/${reference}`,
        headers: { Accept: MANIFEST_ACCEPT },
        scopes: [`repository:${repository}:pull`],
      },
      ctx,
    );
    if (res.status !== 200) throw await this.#error(res, `manifest ${repository}:${reference}`);
    const declared = Number(res.headers['content-length'] ?? '0');
    if (declared > MAX_MANIFEST) {
      discard(res);
      throw new DroverError(
        'OCI_MANIFEST_TOO_LARGE',
        `manifest ${repository}:${reference} is ${declared} bytes`,
        {
          hint: 'Registries limit manifests to 4 MiB; this is not a usable image manifest.',
        },
      );
    }
    const bytes = await readBody(res, MAX_MANIFEST);
    const mediaType = String(res.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim();
    const header = res.headers['docker-content-digest'];
    let digest: DigestString;
    if (isDigest(reference)) {
      verifyBytes(bytes, reference, undefined, `manifest ${repository}@${reference}`);
      digest = reference;
    } else {
      digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      if (
        typeof header === 'string' &&
        isDigest(header) &&
        parseDigest(header).algorithm === 'sha256' &&
        header !== digest
      ) {
        throw digestMismatch(`manifest ${repository}:${reference}`, header, digest);
      }
    }
    const parsed = parseManifest(bytes, mediaType || undefined);
    const descriptor: Descriptor = { mediaType: parsed.mediaType, digest, size: bytes.length };
    return { descriptor, parsed };
  }

  /** The descriptor of a manifest (HEAD), or undefined when it does not exist. */
  async headManifest(
    repository: string,
    reference: string,
    ctx: Context = {},
  ): Promise<Descriptor | undefined> {
    const res = await this.#request(
      {
        method: 'HEAD',
        url: `/v2/${repository}/manifests/${reference}`,
        headers: { Accept: MANIFEST_ACCEPT },
        scopes: [`repository:${repository}:pull`],
      },
      ctx,
    );
    discard(res);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await this.#error(res, `manifest ${repository}:${reference}`);
    const digest = res.headers['docker-content-digest'];
    if (typeof digest !== 'string' || !isDigest(digest))
      return (await this.getManifest(repository, reference, ctx)).descriptor;
    return {
      mediaType: String(res.headers['content-type'] ?? '').split(';')[0]!,
      digest,
      size: Number(res.headers['content-length'] ?? 0),
    };
  }

  /**
   * Upload a manifest or index under a tag or its digest. When it has a `subject` and the registry did not
   * answer `OCI-Subject` (no referrers API), the referrers tag-schema index is updated too.
   */
  async putManifest(
    repository: string,
    reference: string,
    bytes: Buffer,
    mediaType: string,
    ctx: Context = {},
  ): Promise<Descriptor> {
    const parsed = parseManifest(bytes, mediaType);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}` as DigestString;
    if (isDigest(reference) && reference !== digest)
      throw digestMismatch('manifest to push', reference, digest);
    const res = await this.#request(
      {
        method: 'PUT',
        url: `/v2/${repository}/manifests/${reference}`,
        headers: { 'Content-Type': mediaType, 'Content-Length': String(bytes.length) },
        body: bytes,
        scopes: [`repository:${repository}:pull,push`],
      },
      ctx,
    );
    discard(res);
    if (res.status !== 201) throw await this.#error(res, `pushing manifest ${repository}:${reference}`);
    const returned = res.headers['docker-content-digest'];
    if (typeof returned === 'string' && isDigest(returned) && returned !== digest) {
      throw digestMismatch(`manifest pushed to ${repository}`, digest, returned);
    }
    const descriptor: Descriptor = { mediaType, digest, size: bytes.length };
    const doc = parsed.kind === 'manifest' ? parsed.manifest : parsed.index;
    const artifactType =
      doc.artifactType ?? (parsed.kind === 'manifest' ? parsed.manifest.config.mediaType : undefined);
    if (doc.subject && !res.headers['oci-subject']) {
      const entry: Descriptor = { ...descriptor };
      if (artifactType) entry.artifactType = artifactType;
      if (doc.annotations) entry.annotations = doc.annotations;
      await this.#addToReferrersTag(repository, doc.subject.digest, entry, ctx);
    }
    return descriptor;
  }

  /**
   * Delete a manifest by digest (registries refuse tags). When it had a `subject` and the registry has no
   * referrers API, its entry is also removed from the subject's referrers tag-schema index.
   */
  async deleteManifest(repository: string, digest: DigestString, ctx: Context = {}): Promise<void> {
    let subject: DigestString | undefined;
    try {
      const { parsed } = await this.getManifest(repository, digest, ctx);
      subject = (parsed.kind === 'manifest' ? parsed.manifest : parsed.index).subject?.digest;
    } catch (error) {
      if (!isDroverCode(error, 'REGISTRY_NOT_FOUND')) throw error; // the DELETE below reports the 404
    }
    const res = await this.#request(
      {
        method: 'DELETE',
        url: `/v2/${repository}/manifests/${digest}`,
        scopes: [`repository:${repository}:delete`],
      },
      ctx,
    );
    discard(res);
    if (res.status !== 202 && res.status !== 200)
      throw await this.#error(res, `deleting ${repository}@${digest}`);
    if (!subject) return;
    const referrers = await this.referrers(repository, subject, {}, ctx);
    if (referrers.source !== 'tag' || !referrers.descriptors.some((d) => d.digest === digest)) return;
    const index: ImageIndex = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: referrers.descriptors.filter((d) => d.digest !== digest),
    };
    await this.putManifest(
      repository,
      referrersTag(subject),
      Buffer.from(JSON.stringify(index)),
      MediaType.OciIndex,
      ctx,
    );
  }

  /** Tags of a repository (following `Link` pagination). */
  async listTags(repository: string, ctx: Context = {}): Promise<string[]> {
    const tags: string[] = [];
    let url: string | URL = `/v2/${repository}/tags/list`;
    for (let page = 0; page < 1000; page++) {
      const res = await this.#request({ method: 'GET', url, scopes: [`repository:${repository}:pull`] }, ctx);
      if (res.status !== 200) throw await this.#error(res, `tags of ${repository}`);
      const body = JSON.parse((await readBody(res)).toString('utf8')) as { tags?: string[] | null };
      tags.push(...(body.tags ?? []));
      const next = nextLink(res);
      if (!next) break;
      url = next;
    }
    return tags;
  }

  /** True when the repository has the blob. */
  async hasBlob(repository: string, digest: DigestString, ctx: Context = {}): Promise<boolean> {
    const res = await this.#request(
      { method: 'HEAD', url: `/v2/${repository}/blobs/${digest}`, scopes: [`repository:${repository}:pull`] },
      ctx,
    );
    discard(res);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await this.#error(res, `blob ${repository}@${digest}`);
  }

  /**
   * Download a blob into a blob store, verifying digest and size while streaming. An interrupted transfer is
   * resumed with `Range: bytes=N-`; nothing is stored under the digest unless it verified.
   */
  async fetchBlob(
    repository: string,
    descriptor: Descriptor,
    store: BlobStore,
    options: { onBytes?: (n: number) => void } = {},
    ctx: Context = {},
  ): Promise<{ downloaded: boolean }> {
    if ((await store.size(descriptor.digest)) === descriptor.size) return { downloaded: false };
    const { algorithm } = parseDigest(descriptor.digest);
    const final = store.path(descriptor.digest);
    await mkdir(final.slice(0, final.lastIndexOf('/')), { recursive: true });
    const tmp = temporaryPathFor(final);
    const file = await openFile(tmp, 'w');
    const label = `blob ${descriptor.digest}`;
    // Large blobs are downloaded on a worker thread (HTTP, hashing and writing all there); small ones here.
    const pool = descriptor.size >= WORKER_DOWNLOAD_MIN ? this.#downloadPool() : undefined;
    const download = pool?.start({
      fd: file.fd,
      size: descriptor.size,
      algorithm,
      label,
      ...(options.onBytes ? { onBytes: options.onBytes } : {}),
    });
    try {
      const { offset, hex } = download
        ? await this.#downloadOnWorker(repository, descriptor, download, ctx)
        : await this.#downloadHere(repository, descriptor, file, tmp, options, ctx);
      await file.sync();
      await file.close();
      const actual = `${algorithm}:${hex}`;
      if (offset !== descriptor.size) throw sizeMismatch(label, descriptor.size, offset);
      if (actual !== descriptor.digest)
        throw digestMismatch(`blob ${repository}@${descriptor.digest}`, descriptor.digest, actual);
      await rename(tmp, final);
      return { downloaded: true };
    } catch (error) {
      await download?.cancel(); // before closing: the worker writes through the descriptor
      await file.close().catch(() => {});
      await rm(tmp, { force: true });
      throw toDroverError(error, `downloading ${descriptor.digest}`);
    }
  }

  /**
   * The download loop on a worker: every attempt is one request through the client's request loop (auth,
   * redirects, retries of busy answers) whose transport is the worker; an interrupted transfer resumes with
   * `Range: bytes=N-` from what the worker has written and hashed.
   */
  async #downloadOnWorker(
    repository: string,
    descriptor: Descriptor,
    download: BlobDownload,
    ctx: Context,
  ): Promise<{ offset: number; hex: string }> {
    const rctx = resolveContext(ctx);
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(ctx);
      const from = download.offset;
      try {
        const res = await this.#request(
          {
            method: 'GET',
            url: `/v2/${repository}/blobs/${descriptor.digest}`,
            headers: from > 0 ? { Range: `bytes=${from}-` } : {},
            scopes: [`repository:${repository}:pull`],
          },
          ctx,
          (request) => download.send(request),
        );
        if (res.restarted) {
          rctx.logger.debug('registry ignored Range; restarting blob download', {
            digest: descriptor.digest,
          });
        }
        if (!res.transfer) {
          if (res.status === 206) {
            const start = /bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''))?.[1];
            throw new DroverError('REGISTRY_RANGE_MISMATCH', `asked for bytes from ${from}, got ${start}`, {
              kind: 'io',
            });
          }
          throw await this.#error(res, `blob ${repository}@${descriptor.digest}`);
        }
        await res.transfer;
        if (download.offset < descriptor.size) {
          // the response ended cleanly but short: the blob is smaller than its descriptor says
          throw sizeMismatch(`blob ${descriptor.digest}`, descriptor.size, download.offset);
        }
        break;
      } catch (error) {
        throwIfAborted(ctx);
        if (!isTransient(error) || attempt >= this.#retry.retries) throw error;
        rctx.logger.debug('blob download interrupted; resuming', {
          digest: descriptor.digest,
          offset: download.offset,
          attempt,
        });
        await this.#sleep(this.#backoff(attempt), ctx);
      }
    }
    return { offset: download.offset, hex: await download.digest() };
  }

  /** The download loop on this thread (small blobs, or no download workers). */
  async #downloadHere(
    repository: string,
    descriptor: Descriptor,
    file: FileHandle,
    tmp: string,
    options: { onBytes?: (n: number) => void },
    ctx: Context,
  ): Promise<{ offset: number; hex: string }> {
    const rctx = resolveContext(ctx);
    const { algorithm } = parseDigest(descriptor.digest);
    let hash = createHash(algorithm);
    let offset = 0;
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(ctx);
      const headers: Record<string, string> = {};
      if (offset > 0) headers.Range = `bytes=${offset}-`;
      let res: HttpResponse | undefined;
      try {
        res = await this.#request(
          {
            method: 'GET',
            url: `/v2/${repository}/blobs/${descriptor.digest}`,
            headers,
            scopes: [`repository:${repository}:pull`],
          },
          ctx,
        );
        if (res.status === 200 && offset > 0) {
          // the registry ignored Range: start over
          rctx.logger.debug('registry ignored Range; restarting blob download', {
            digest: descriptor.digest,
          });
          await file.truncate(0);
          offset = 0;
          hash = createHash(algorithm);
        } else if (res.status === 206) {
          const start = /bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''))?.[1];
          if (Number(start) !== offset) {
            discard(res);
            throw new DroverError('REGISTRY_RANGE_MISMATCH', `asked for bytes from ${offset}, got ${start}`, {
              kind: 'io',
            });
          }
        } else if (res.status !== 200) {
          throw await this.#error(res, `blob ${repository}@${descriptor.digest}`);
        }
        // Network reads and disk writes overlap: chunks pile up (up to 4 MiB, then the socket pauses) while a
        // write is in flight, and go to disk in one writev. `offset` only counts bytes on disk (and hashed), so a
        // resume after an interruption starts exactly where the file ends.
        const expected = descriptor.size;
        const body = res.body;
        await new Promise<void>((resolve, reject) => {
          let pending: Buffer[] = [];
          let pendingBytes = 0;
          let writing = false;
          let ended = false;
          let failure: Error | undefined;
          const fail = (error: Error): void => {
            if (failure) return;
            failure = error;
            body.destroy();
            if (!writing) reject(error); // else once the write in flight settled
          };
          const flush = (): void => {
            if (writing || failure) return;
            if (pendingBytes === 0) {
              if (ended) resolve();
              return;
            }
            const chunks = pending;
            const length = pendingBytes;
            pending = [];
            pendingBytes = 0;
            if (offset + length > expected) {
              fail(sizeMismatch(`blob ${descriptor.digest}`, expected, offset + length));
              return;
            }
            writing = true;
            file.writev(chunks, offset).then(
              ({ bytesWritten }) => {
                writing = false;
                if (bytesWritten === length) {
                  for (const c of chunks) hash.update(c);
                  offset += length;
                  options.onBytes?.(length);
                } else
                  failure ??= toDroverError(new Error(`short write (${bytesWritten} of ${length})`), tmp);
                if (failure) {
                  reject(failure);
                  return;
                }
                if (body.isPaused()) body.resume();
                flush();
              },
              (error: Error) => {
                writing = false;
                failure ??= error;
                reject(failure);
              },
            );
          };
          body.on('data', (chunk: Buffer) => {
            pending.push(chunk);
            pendingBytes += chunk.length;
            if (!writing) flush();
            else if (pendingBytes >= MAX_PENDING_WRITE) body.pause();
          });
          body.on('end', () => {
            ended = true;
            flush();
          });
          body.on('error', fail);
          body.on('close', () => {
            if (!ended) fail(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
          });
        });
        if (offset < descriptor.size) {
          // the response ended cleanly but short: the blob is smaller than its descriptor says
          throw sizeMismatch(`blob ${descriptor.digest}`, descriptor.size, offset);
        }
        return { offset, hex: hash.digest('hex') };
      } catch (error) {
        res?.body.destroy();
        throwIfAborted(ctx);
        if (!isTransient(error) || attempt >= this.#retry.retries) throw error;
        rctx.logger.debug('blob download interrupted; resuming', {
          digest: descriptor.digest,
          offset,
          attempt,
        });
        await this.#sleep(this.#backoff(attempt), ctx);
      }
    }
  }

  /** Stream a blob's bytes (verify them yourself, or use {@link RegistryClient.fetchBlob}). */
  async openBlob(repository: string, digest: DigestString, ctx: Context = {}): Promise<Readable> {
    const res = await this.#request(
      { method: 'GET', url: `/v2/${repository}/blobs/${digest}`, scopes: [`repository:${repository}:pull`] },
      ctx,
    );
    if (res.status !== 200) throw await this.#error(res, `blob ${repository}@${digest}`);
    return res.body;
  }

  /**
   * Upload a blob unless the repository has it: tries a cross-repository mount first when asked, uploads
   * small blobs in one PUT and large ones in PATCH chunks, and resumes an interrupted chunked upload from the
   * offset the registry reports (or restarts the session when the registry lost it).
   */
  async pushBlob(
    repository: string,
    descriptor: Descriptor,
    options: PushBlobOptions,
    ctx: Context = {},
  ): Promise<BlobPushOutcome> {
    const rctx = resolveContext(ctx);
    const push = `repository:${repository}:pull,push`;
    if (await this.hasBlob(repository, descriptor.digest, ctx)) return 'exists';
    for (let session = 0; ; session++) {
      throwIfAborted(ctx);
      const scopes =
        options.mountFrom && session === 0 ? [push, `repository:${options.mountFrom}:pull`] : [push];
      const query =
        options.mountFrom && session === 0
          ? `?mount=${encodeURIComponent(descriptor.digest)}&from=${encodeURIComponent(options.mountFrom)}`
          : '';
      const start = await this.#request(
        {
          method: 'POST',
          url: `/v2/${repository}/blobs/uploads/${query}`,
          headers: { 'Content-Length': '0' },
          scopes,
        },
        ctx,
      );
      discard(start);
      if (start.status === 201 && query) return 'mounted';
      if (start.status !== 202) throw await this.#error(start, `starting upload to ${repository}`);
      let location = this.#location(start);
      try {
        await this.#upload(repository, descriptor, options, location, ctx, (l) => {
          location = l;
        });
        return 'uploaded';
      } catch (error) {
        if (isDroverCode(error, 'REGISTRY_UPLOAD_LOST') && session < this.#retry.retries) {
          rctx.logger.debug('upload session lost; starting a new one', {
            digest: descriptor.digest,
            session,
          });
          if (await this.hasBlob(repository, descriptor.digest, ctx)) return 'uploaded';
          continue;
        }
        // a fatal error: cancel the session so the registry can drop the partial data
        await this.#request({ method: 'DELETE', url: location, scopes: [push], noRetry: true }, ctx).then(
          discard,
          () => {},
        );
        throw error;
      }
    }
  }

  async #upload(
    repository: string,
    descriptor: Descriptor,
    options: PushBlobOptions,
    firstLocation: URL,
    ctx: Context,
    setLocation: (l: URL) => void,
  ): Promise<void> {
    const rctx = resolveContext(ctx);
    const scopes = [`repository:${repository}:pull,push`];
    const chunkSize = this.#options.chunkSize ?? 16 << 20;
    let location = firstLocation;
    const finish = async (body: Buffer | (() => Readable), length: number): Promise<void> => {
      const url = new URL(location);
      url.searchParams.set('digest', descriptor.digest);
      const res = await this.#request(
        {
          method: 'PUT',
          url,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(length) },
          body,
          scopes,
          noRetry: length > 0,
        },
        ctx,
      );
      discard(res);
      if (res.status === 404) throw uploadLost(descriptor.digest);
      if (res.status !== 201 && res.status !== 204)
        throw await this.#error(res, `finishing upload of ${descriptor.digest}`);
    };
    if (descriptor.size <= chunkSize) {
      try {
        await finish(() => {
          const stream = options.open(0);
          stream.on('data', (c: Buffer) => options.onBytes?.(c.length));
          return stream;
        }, descriptor.size);
        return;
      } catch (error) {
        if (isTransient(error)) throw uploadLost(descriptor.digest, error);
        throw error;
      }
    }
    let offset = 0;
    let failures = 0;
    while (offset < descriptor.size) {
      throwIfAborted(ctx);
      const length = Math.min(chunkSize, descriptor.size - offset);
      const source = options.open(offset);
      let chunk: Buffer | undefined;
      try {
        chunk = await new ByteReader(source).read(length);
      } finally {
        source.destroy(); // only this chunk was needed: release the file (and whatever reads it)
      }
      if (!chunk || chunk.length !== length)
        throw sizeMismatch(`blob ${descriptor.digest}`, descriptor.size, offset);
      try {
        const res = await this.#request(
          {
            method: 'PATCH',
            url: location,
            headers: {
              'Content-Type': 'application/octet-stream',
              'Content-Length': String(length),
              'Content-Range': `${offset}-${offset + length - 1}`,
            },
            body: Buffer.from(chunk),
            scopes,
            noRetry: true,
          },
          ctx,
        );
        discard(res);
        if (res.status === 404) throw uploadLost(descriptor.digest);
        if (res.status !== 202) {
          if (RETRY_STATUS.has(res.status) || res.status >= 500) {
            throw new DroverError('REGISTRY_RETRYABLE', `PATCH answered ${res.status}`, {
              kind: 'unavailable',
            });
          }
          throw await this.#error(res, `uploading ${descriptor.digest}`);
        }
        const end = rangeEnd(res.headers.range);
        if (end !== undefined && end !== offset + length - 1) throw uploadLost(descriptor.digest);
        location = this.#location(res, location);
        setLocation(location);
        offset += length;
        options.onBytes?.(length);
      } catch (error) {
        if (
          isDroverCode(error, 'REGISTRY_UPLOAD_LOST') ||
          !isTransient(error) ||
          ++failures > this.#retry.retries
        ) {
          throw error;
        }
        await this.#sleep(this.#backoff(failures - 1), ctx);
        // Ask the registry how much it has; resume from there (or restart if the session is gone).
        const status = await this.#request({ method: 'GET', url: location, scopes }, ctx);
        discard(status);
        if (status.status !== 204) throw uploadLost(descriptor.digest, error);
        const have = rangeEnd(status.headers.range);
        const resumeAt = have === undefined || (have === 0 && offset === 0) ? 0 : have + 1;
        if (resumeAt !== offset) throw uploadLost(descriptor.digest, error); // the registry kept a partial chunk
        location = this.#location(status, location);
        setLocation(location);
        rctx.logger.debug('resuming chunked upload', { digest: descriptor.digest, offset });
      }
    }
    await finish(Buffer.alloc(0), 0);
  }

  /** Referrers of a manifest: the referrers API when the registry has it, else the tag-schema fallback. */
  async referrers(
    repository: string,
    digest: DigestString,
    options: { artifactType?: string } = {},
    ctx: Context = {},
  ): Promise<ReferrersResult> {
    const scopes = [`repository:${repository}:pull`];
    const query = options.artifactType ? `?artifactType=${encodeURIComponent(options.artifactType)}` : '';
    const descriptors: Descriptor[] = [];
    let url: string | URL = `/v2/${repository}/referrers/${digest}${query}`;
    let filtered = false;
    for (let page = 0; page < 1000; page++) {
      const res = await this.#request(
        { method: 'GET', url, headers: { Accept: MediaType.OciIndex }, scopes },
        ctx,
      );
      if (res.status === 404 && page === 0) {
        discard(res);
        return {
          descriptors: await this.#referrersFromTag(repository, digest, options.artifactType, ctx),
          source: 'tag',
        };
      }
      if (res.status !== 200) throw await this.#error(res, `referrers of ${digest}`);
      filtered ||= String(res.headers['oci-filters-applied'] ?? '').includes('artifactType');
      const parsed = parseManifest(await readBody(res), MediaType.OciIndex);
      if (parsed.kind === 'index') descriptors.push(...parsed.index.manifests);
      const next = nextLink(res);
      if (!next) break;
      url = next;
    }
    const wanted = options.artifactType;
    return {
      descriptors: wanted && !filtered ? descriptors.filter((d) => d.artifactType === wanted) : descriptors,
      source: 'api',
    };
  }

  async #referrersFromTag(
    repository: string,
    digest: DigestString,
    artifactType: string | undefined,
    ctx: Context,
  ) {
    const tag = referrersTag(digest);
    try {
      const { parsed } = await this.getManifest(repository, tag, ctx);
      const list = parsed.kind === 'index' ? parsed.index.manifests : [];
      return artifactType ? list.filter((d) => d.artifactType === artifactType) : list;
    } catch (error) {
      if (isDroverCode(error, 'REGISTRY_NOT_FOUND')) return [];
      throw error;
    }
  }

  async #addToReferrersTag(
    repository: string,
    subject: DigestString,
    entry: Descriptor,
    ctx: Context,
  ): Promise<void> {
    const tag = referrersTag(subject);
    let index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    try {
      const { parsed } = await this.getManifest(repository, tag, ctx);
      if (parsed.kind === 'index') index = parsed.index;
    } catch (error) {
      if (!isDroverCode(error, 'REGISTRY_NOT_FOUND')) throw error;
    }
    if (index.manifests.some((m) => m.digest === entry.digest)) return;
    index = { ...index, manifests: [...index.manifests, entry] };
    const bytes = Buffer.from(JSON.stringify(index));
    await this.putManifest(repository, tag, bytes, MediaType.OciIndex, ctx);
  }

  // ---- transport -------------------------------------------------------------------------------------------

  #location(res: HttpResponse, fallback?: URL): URL {
    const value = res.headers.location;
    if (!value) {
      if (fallback) return fallback;
      throw new DroverError(
        'REGISTRY_PROTOCOL',
        `${res.url.pathname}: ${res.status} without a Location header`,
        {
          kind: 'unavailable',
          hint: 'The registry does not follow the distribution spec for uploads.',
        },
      );
    }
    return new URL(value, res.url); // 2.8 sends absolute URLs, the spec allows relative ones
  }

  #backoff(attempt: number, retryAfterMs?: number): number {
    if (retryAfterMs !== undefined) return Math.min(retryAfterMs, this.#retry.maxDelayMs);
    const ceiling = Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** attempt);
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  #sleep(ms: number, ctx: Context): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ctx.signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        clearTimeout(timer);
        try {
          throwIfAborted(ctx);
        } catch (error) {
          reject(error);
        }
      };
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async #credentialsFor(): Promise<RegistryCredentials | null> {
    if (this.#credentials === undefined) {
      this.#credentials =
        (await loadDockerCredentials({
          registry: this.registry,
          ...(this.#options.dockerConfigPath ? { configPath: this.#options.dockerConfigPath } : {}),
        })) ?? null;
    }
    return this.#credentials;
  }

  async #authorization(scopes: string[], ctx: Context): Promise<string | undefined> {
    if (this.#scheme === 'none') return undefined;
    const creds = await this.#credentialsFor();
    if (this.#scheme === 'basic') {
      if (creds && 'password' in creds) {
        return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      }
      return undefined;
    }
    if (creds && 'registryToken' in creds) return `Bearer ${creds.registryToken}`;
    const all = [
      ...new Set([...scopes, ...(this.#challenge.scope ? this.#challenge.scope.split(' ') : [])]),
    ].sort();
    const key = all.join(' ');
    const cached = this.#tokens.get(key);
    if (cached && cached.expires > Date.now() + 5_000) return `Bearer ${cached.value}`;
    const token = await this.#fetchToken(all, creds, ctx);
    this.#tokens.set(key, token);
    return `Bearer ${token.value}`;
  }

  async #fetchToken(scopes: string[], creds: RegistryCredentials | null, ctx: Context): Promise<Token> {
    const realm = this.#challenge.realm;
    if (!realm) {
      throw new DroverError(
        'REGISTRY_AUTH_INVALID',
        `${this.registry} asked for a bearer token without a realm`,
        {
          kind: 'unavailable',
        },
      );
    }
    const url = new URL(realm);
    if (url.protocol === 'http:' && !this.#options.plainHttp && !isLoopback(url.host)) {
      throw new DroverError('REGISTRY_AUTH_INSECURE', `token realm ${url.origin} is plain HTTP`, {
        kind: 'denied',
        hint: 'Refusing to send credentials over plain HTTP; use an HTTPS token service or opt in with plainHttp.',
      });
    }
    const headers: Record<string, string> = { 'User-Agent': this.#userAgent() };
    let body: Buffer | undefined;
    let method = 'GET';
    if (creds && 'identityToken' in creds) {
      method = 'POST';
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: creds.identityToken,
        client_id: 'drover',
      });
      if (this.#challenge.service) form.set('service', this.#challenge.service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      body = Buffer.from(form.toString());
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      headers['Content-Length'] = String(body.length);
    } else {
      if (this.#challenge.service) url.searchParams.set('service', this.#challenge.service);
      for (const s of scopes) url.searchParams.append('scope', s);
      if (creds && 'password' in creds) {
        url.searchParams.set('account', creds.username);
        headers.Authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      }
    }
    for (let attempt = 0; ; attempt++) {
      let res: HttpResponse;
      try {
        res = await send(
          { method, url, headers, ...(body ? { body } : {}), timeoutMs: this.#timeoutMs, ...sig(ctx) },
          this.#agents,
        );
      } catch (error) {
        throwIfAborted(ctx);
        if (attempt < this.#retry.retries) {
          await this.#sleep(this.#backoff(attempt), ctx);
          continue;
        }
        throw unreachable(url.host, error);
      }
      if (RETRY_STATUS.has(res.status) && attempt < this.#retry.retries) {
        discard(res);
        await this.#sleep(
          this.#backoff(attempt, parseRetryAfter(res.headers['retry-after'] as string | undefined)),
          ctx,
        );
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        discard(res);
        throw new DroverError(
          'REGISTRY_UNAUTHORIZED',
          `the token service of ${this.registry} refused the credentials`,
          {
            kind: 'denied',
            hint: 'Log in again (docker login) or check the credentials for this registry.',
            details: { status: res.status },
          },
        );
      }
      if (res.status !== 200) {
        discard(res);
        throw new DroverError('REGISTRY_AUTH_FAILED', `token service answered ${res.status}`, {
          kind: 'unavailable',
        });
      }
      const json = JSON.parse((await readBody(res, 1 << 20)).toString('utf8')) as {
        token?: string;
        access_token?: string;
        expires_in?: number;
        issued_at?: string;
      };
      const value = json.token ?? json.access_token;
      if (!value)
        throw new DroverError('REGISTRY_AUTH_FAILED', 'token response has no token', { kind: 'unavailable' });
      const issued = json.issued_at ? Date.parse(json.issued_at) : Date.now();
      const expires = (Number.isNaN(issued) ? Date.now() : issued) + (json.expires_in ?? 60) * 1000;
      return { value, expires };
    }
  }

  #userAgent(): string {
    return this.#options.userAgent ?? 'drover-oci';
  }

  /**
   * Send with auth, retries (transient statuses and network errors) and redirects, through `transport` (default:
   * this thread's keep-alive agents).
   */
  async #request<R extends HttpResponse = HttpResponse>(
    options: RequestOptions,
    ctx: Context,
    transport?: (request: HttpRequest) => Promise<R>,
  ): Promise<R> {
    const rctx: ResolvedContext = resolveContext(ctx);
    let url = typeof options.url === 'string' ? new URL(options.url, this.#base) : options.url;
    let authRetried = false;
    let redirects = 0;
    for (let attempt = 0; ; ) {
      throwIfAborted(ctx);
      const headers: Record<string, string> = { 'User-Agent': this.#userAgent(), ...options.headers };
      const sameOrigin = url.origin === this.#base.origin; // scheme too: never credentials over plain HTTP
      if (sameOrigin) {
        const auth = await this.#authorization(options.scopes, ctx);
        if (auth) headers.Authorization = auth;
      }
      let res: R;
      try {
        const request: HttpRequest = {
          method: options.method,
          url,
          headers,
          ...(options.body ? { body: options.body } : {}),
          timeoutMs: this.#timeoutMs,
          ...sig(ctx),
        };
        res = transport ? await transport(request) : ((await send(request, this.#agents)) as R);
      } catch (error) {
        throwIfAborted(ctx);
        const wrapped = isDroverCode(error, 'REGISTRY_TIMEOUT')
          ? (error as DroverError)
          : unreachable(url.host, error);
        if (options.noRetry || attempt >= this.#retry.retries) throw wrapped;
        rctx.logger.debug('registry request failed; retrying', {
          method: options.method,
          path: url.pathname,
          attempt,
        });
        await this.#sleep(this.#backoff(attempt++), ctx);
        continue;
      }
      if ([301, 302, 303, 307, 308].includes(res.status) && res.headers.location && redirects++ < 5) {
        discard(res);
        url = new URL(res.headers.location, url);
        continue; // credentials are only sent to the registry's own origin (see sameOrigin)
      }
      if (res.status === 401 && sameOrigin && !authRetried) {
        const challenge = parseChallenges(res.headers['www-authenticate'] as string | undefined)[0];
        if (challenge && (challenge.scheme === 'bearer' || challenge.scheme === 'basic')) {
          discard(res);
          authRetried = true;
          // a token the registry no longer accepts (expired early, revoked): forget it, so the retry gets a new one
          const sent = headers.Authorization;
          for (const [key, token] of this.#tokens)
            if (sent === `Bearer ${token.value}`) this.#tokens.delete(key);
          this.#scheme = challenge.scheme;
          this.#challenge = challenge.params;
          if (challenge.scheme === 'basic' && !(await this.#credentialsFor())) {
            throw new DroverError('REGISTRY_UNAUTHORIZED', `${this.registry} requires a login`, {
              kind: 'denied',
              hint: `Log in with \`docker login ${this.registry}\` (drover reads ~/.docker/config.json) or pass credentials.`,
            });
          }
          continue;
        }
      }
      if (RETRY_STATUS.has(res.status) && !options.noRetry && attempt < this.#retry.retries) {
        const wait = this.#backoff(
          attempt++,
          parseRetryAfter(res.headers['retry-after'] as string | undefined),
        );
        discard(res);
        rctx.logger.debug('registry busy; retrying', {
          status: res.status,
          path: url.pathname,
          waitMs: wait,
        });
        await this.#sleep(wait, ctx);
        continue;
      }
      return res;
    }
  }

  async #error(res: HttpResponse, what: string): Promise<DroverError> {
    let errors: Array<{ code?: string; message?: string; detail?: unknown }> = [];
    if (res.body.readable && !res.body.readableEnded) {
      try {
        const body = await readBody(res, 64 << 10);
        errors = (JSON.parse(body.toString('utf8')) as { errors?: typeof errors }).errors ?? [];
      } catch {
        errors = [];
      }
    }
    const first = errors[0];
    const codes = errors.map((e) => e.code).filter(Boolean) as string[];
    const message = `${what}: ${res.status} ${first?.code ?? ''} ${first?.message ?? ''}`
      .replace(/\s+/g, ' ')
      .trim();
    const details = { status: res.status, codes, registry: this.registry };
    const challenge = parseChallenges(res.headers['www-authenticate'] as string | undefined)[0];
    if (res.status === 401) {
      return new DroverError('REGISTRY_UNAUTHORIZED', message, {
        kind: 'denied',
        hint:
          challenge?.params.error === 'insufficient_scope'
            ? 'The credentials do not allow this operation on this repository.'
            : `Log in with \`docker login ${this.registry}\` or check the credentials.`,
        details,
      });
    }
    if (res.status === 403) return new DroverError('REGISTRY_DENIED', message, { kind: 'denied', details });
    if (res.status === 404) {
      return new DroverError('REGISTRY_NOT_FOUND', message, {
        kind: 'not-found',
        hint: 'Check the repository name, tag or digest.',
        details,
      });
    }
    if (res.status === 429) {
      return new DroverError('REGISTRY_TOO_MANY_REQUESTS', message, {
        kind: 'unavailable',
        hint: 'The registry rate-limits this client; wait and retry, or log in for a higher limit.',
        details,
      });
    }
    if (res.status >= 500) {
      return new DroverError('REGISTRY_UNAVAILABLE', message, {
        kind: 'unavailable',
        hint: 'Retry later.',
        details,
      });
    }
    return new DroverError('REGISTRY_ERROR', message, { kind: 'input', details });
  }
}

function sig(ctx: Context): { signal?: AbortSignal } {
  return ctx.signal ? { signal: ctx.signal } : {};
}

function unreachable(host: string, error: unknown): DroverError {
  const code = (error as NodeJS.ErrnoException)?.code;
  return new DroverError(
    'REGISTRY_UNREACHABLE',
    `cannot reach ${host}: ${code ?? (error as Error)?.message ?? error}`,
    {
      kind: 'unavailable',
      hint: 'Check the registry address and your network; for a local plain-HTTP registry opt in with --insecure.',
      cause: error,
    },
  );
}

function uploadLost(digest: string, cause?: unknown): DroverError {
  return new DroverError('REGISTRY_UPLOAD_LOST', `the registry lost the upload session of ${digest}`, {
    kind: 'unavailable',
    ...(cause ? { cause } : {}),
  });
}

function isDroverCode(error: unknown, code: string): boolean {
  return (
    (error as { name?: string; code?: string })?.name === 'DroverError' &&
    (error as { code: string }).code === code
  );
}

function rangeEnd(value: string | string[] | undefined): number | undefined {
  const m = /^(?:bytes=)?(\d+)-(\d+)$/.exec(String(value ?? '').trim());
  return m ? Number(m[2]) : undefined;
}

function nextLink(res: HttpResponse): URL | undefined {
  const link = res.headers.link;
  const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(String(link ?? ''));
  return m ? new URL(m[1]!, res.url) : undefined;
}

/** The tag the referrers tag-schema fallback uses for a subject digest (`sha256-<hex>`). */
export function referrersTag(digest: DigestString): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm}-${hex}`.slice(0, 128);
}
