import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { DroverError } from '@drover/core';
import { sizeMismatch } from '../verify.js';
import type { HttpRequest, HttpResponse } from './http.js';
import { RESPONSE_PARSER_SOURCE } from './http1-parser.js';

// Runs in a worker thread (CommonJS, evaluated from this string so it works from src and from bundles alike).
// A worker downloads whole blobs: it sends each GET itself over a socket of its own, and for a 200 or 206 it
// hashes every socket read and writes it to the blob's file (through the descriptor the main thread opened) in
// the read callback, straight from one reusable read buffer: no per-chunk allocation, no copy and no message per
// chunk. Any other response (redirect, 401, 429, errors) is read whole (up to 64 KiB) and handed back, so auth,
// redirects, retries and resumption stay decisions of the main thread. A download keeps its hash across requests,
// so a resumed request (Range) continues it.
const SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const { createHash } = require('node:crypto');
const { writeSync, ftruncateSync } = require('node:fs');
${RESPONSE_PARSER_SOURCE}
const readBuffer = Buffer.allocUnsafe(workerData.readSize);
const PROGRESS_EVERY = 1 << 20;
const MAX_OTHER_BODY = 64 << 10;
const IDLE_MS = 4000;
const downloads = new Map();
const idle = new Map();
let tls;

const problem = (code, message) => Object.assign(new Error(message), { code });
const post = (m) => parentPort.postMessage(m);

function connect(url) {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const conn = { key: url.protocol + '//' + url.host, socket: undefined, handler: undefined, reused: false };
  if (url.protocol === 'https:') {
    tls ??= require('node:tls');
    conn.socket = tls.connect({
      host,
      port: Number(url.port || 443),
      servername: net.isIP(host) ? undefined : host,
      ALPNProtocols: ['http/1.1'],
      ...(workerData.ca ? { ca: [...tls.rootCertificates, ...workerData.ca] } : {}),
    });
    conn.socket.on('data', (chunk) => conn.handler ? conn.handler.data(chunk, 0, chunk.length) : conn.socket.destroy());
  } else {
    conn.socket = net.connect({
      host,
      port: Number(url.port || 80),
      onread: {
        buffer: readBuffer,
        callback: (n, buffer) => {
          if (conn.handler) conn.handler.data(buffer, 0, n);
          else conn.socket.destroy();
        },
      },
    });
  }
  conn.socket.on('end', () => conn.handler && conn.handler.eof());
  conn.socket.on('error', (error) => conn.handler && conn.handler.fail(error));
  conn.socket.on('close', () => {
    conn.handler && conn.handler.fail(problem('ECONNRESET', 'socket closed'));
    const list = idle.get(conn.key);
    const at = list ? list.indexOf(conn) : -1;
    if (at >= 0) list.splice(at, 1);
  });
  conn.socket.on('timeout', () => conn.socket.destroy(conn.handler ? conn.handler.timeout() : undefined));
  return conn;
}

function takeIdle(key) {
  const list = idle.get(key);
  while (list && list.length) {
    const conn = list.pop();
    if (!conn.socket.destroyed) return conn;
  }
  return undefined;
}

function release(conn, keepAlive) {
  conn.handler = undefined;
  if (!keepAlive || conn.socket.destroyed) {
    conn.socket.destroy();
    return;
  }
  conn.reused = true;
  conn.socket.setTimeout(IDLE_MS);
  let list = idle.get(conn.key);
  if (!list) idle.set(conn.key, (list = []));
  list.push(conn);
}

function get(d, m, retried) {
  const url = new URL(m.url);
  let conn = takeIdle(url.protocol + '//' + url.host);
  const reused = conn !== undefined;
  conn ??= connect(url);
  let received = false;
  let mode;
  let status = 0;
  let headers;
  let other = [];
  let otherBytes = 0;
  let unreported = 0;
  let settled = false;
  const report = () => {
    if (unreported > 0) post({ type: 'progress', id: d.id, bytes: unreported });
    unreported = 0;
  };
  const settle = (message, keepAlive) => {
    if (settled) return;
    settled = true;
    d.active = undefined;
    report();
    if (keepAlive) release(conn, true);
    else {
      conn.handler = undefined;
      conn.socket.destroy();
    }
    post(message);
  };
  const failed = (error) => {
    if (settled) return;
    if (reused && !received && !retried && !d.aborted && /^(ECONNRESET|EPIPE|ECONNABORTED)$/.test(error.code)) {
      // a kept-alive connection the server had closed: try once more on a new one
      settled = true;
      conn.handler = undefined;
      conn.socket.destroy();
      get(d, m, true);
      return;
    }
    settle({ type: 'error', id: d.id, code: error.code, message: String(error.message), offset: d.offset, actual: error.actual }, false);
  };
  const parser = createResponseParser({
    head(s, h) {
      status = s;
      headers = h;
      const range = /^bytes (\d+)-/.exec(String(h['content-range'] || ''));
      if (s === 200 || (s === 206 && range && Number(range[1]) === d.offset)) {
        mode = 'stream';
        let restarted = false;
        if (s === 200 && d.offset > 0) {
          // the server ignored Range: start over
          d.hash = createHash(d.algorithm);
          d.offset = 0;
          ftruncateSync(d.fd, 0);
          restarted = true;
        }
        post({ type: 'head', id: d.id, status: s, headers: h, streaming: true, restarted });
      } else mode = 'other';
    },
    body(buffer, start, end) {
      if (mode === 'stream') {
        const n = end - start;
        if (d.offset + n > d.size) throw Object.assign(problem('SIZE_MISMATCH', 'more bytes than expected'), { actual: d.offset + n });
        const view = buffer.subarray(start, end);
        for (let w = 0; w < n; ) w += writeSync(d.fd, view, w, n - w, d.offset + w);
        d.hash.update(view); // after the write: the hash never counts bytes the file does not have
        d.offset += n;
        unreported += n;
        if (unreported >= PROGRESS_EVERY) report();
      } else if (otherBytes < MAX_OTHER_BODY) {
        const part = Buffer.from(buffer.subarray(start, Math.min(end, start + MAX_OTHER_BODY - otherBytes)));
        other.push(part);
        otherBytes += part.length;
      }
    },
  });
  const done = () => {
    if (mode === 'stream') settle({ type: 'done', id: d.id, offset: d.offset }, parser.keepAlive);
    else {
      const body = Buffer.concat(other);
      settle({ type: 'head', id: d.id, status, headers, streaming: false, body }, parser.keepAlive);
    }
  };
  conn.handler = {
    data(buffer, start, end) {
      received = true;
      try {
        parser.feed(buffer, start, end);
      } catch (error) {
        failed(error);
        return;
      }
      if (parser.done) done();
      else if (mode === 'other' && otherBytes >= MAX_OTHER_BODY) {
        // enough of an error page (or a misplaced range): report it and drop the connection, not read on
        settle({ type: 'head', id: d.id, status, headers, streaming: false, body: Buffer.concat(other) }, false);
      }
    },
    eof() {
      try {
        parser.eof();
      } catch (error) {
        failed(error);
        return;
      }
      done();
    },
    fail: failed,
    timeout: () => problem('REGISTRY_TIMEOUT', 'no data for ' + m.timeoutMs + ' ms'),
  };
  d.active = conn;
  conn.socket.setTimeout(m.timeoutMs);
  let text = 'GET ' + url.pathname + url.search + ' HTTP/1.1\r\nHost: ' + url.host + '\r\n';
  for (const [name, value] of Object.entries(m.headers)) text += name + ': ' + value + '\r\n';
  conn.socket.write(text + '\r\n');
}

parentPort.on('message', (m) => {
  if (m.type === 'get') {
    let d = downloads.get(m.id);
    if (!d) {
      d = { id: m.id, fd: m.fd, size: m.size, algorithm: m.algorithm, hash: createHash(m.algorithm), offset: 0, active: undefined, aborted: false };
      downloads.set(m.id, d);
    }
    d.aborted = false;
    get(d, m, false);
  } else if (m.type === 'abort') {
    const d = downloads.get(m.id);
    if (d && d.active) {
      d.aborted = true;
      d.active.socket.destroy(problem('ABORT_ERR', 'aborted'));
    }
  } else if (m.type === 'end') {
    const d = downloads.get(m.id);
    downloads.delete(m.id);
    post({ type: 'digest', id: m.id, hex: d.hash.digest('hex') });
  } else if (m.type === 'drop') {
    downloads.delete(m.id);
    post({ type: 'dropped', id: m.id });
  }
});
`;

/** Bytes read from a socket at once (and hashed and written in one go). */
const READ_SIZE = 256 << 10;

type WorkerMessage =
  | { type: 'progress'; id: number; bytes: number }
  | {
      type: 'head';
      id: number;
      status: number;
      headers: IncomingHttpHeaders;
      streaming: boolean;
      restarted?: boolean;
      body?: Uint8Array;
    }
  | { type: 'done'; id: number; offset: number }
  | { type: 'error'; id: number; code?: string; message: string; offset: number; actual?: number }
  | { type: 'digest'; id: number; hex: string }
  | { type: 'dropped'; id: number };

/** A response from a download worker: for a 200 or 206 the body goes to the file, and `transfer` settles when it is all there. */
export interface WorkerResponse extends HttpResponse {
  /** The server ignored `Range` and the download started over from byte 0. */
  restarted: boolean;
  /** Resolves when the body is written and hashed; rejects on a network failure (resume from `offset`). */
  transfer?: Promise<void>;
}

interface Listener {
  message(m: WorkerMessage): void;
  fail(error: Error): void;
}

class DownloadThread {
  readonly worker: Worker;
  /** Bytes of the downloads running on it. */
  load = 0;
  readonly listeners = new Map<number, Listener>();
  failed: Error | undefined;

  constructor(ca: string[] | undefined) {
    this.worker = new Worker(SOURCE, {
      eval: true,
      workerData: { readSize: READ_SIZE, ...(ca?.length ? { ca } : {}) },
    });
    this.worker.on('message', (m: WorkerMessage) => this.listeners.get(m.id)?.message(m));
    this.worker.on('error', (error) => this.#fail(error));
    this.worker.on('exit', () =>
      this.#fail(new DroverError('OCI_DOWNLOAD_WORKER', 'a download worker stopped', { kind: 'internal' })),
    );
    this.worker.unref(); // after the listeners: adding a 'message' listener refs the worker again
  }

  #fail(error: Error): void {
    this.failed ??= error;
    for (const listener of [...this.listeners.values()]) listener.fail(this.failed);
  }
}

/** Options for {@link DownloadPool.start}. */
export interface DownloadTarget {
  /** Open descriptor of the file to write (from byte 0); the worker writes at positions, never closes it. */
  fd: number;
  /** Expected size: more bytes than this fail the download. */
  size: number;
  /** Hash algorithm of the digest, e.g. `sha256`. */
  algorithm: string;
  /** What to call the blob in errors, e.g. `blob sha256:…`. */
  label: string;
  onBytes?: (n: number) => void;
}

let nextId = 1;

/**
 * One blob download on a worker thread. {@link BlobDownload.send} sends one GET (it is the transport the
 * client's request loop uses, so auth, redirects and retries work as for any request); the hash and the byte count
 * carry over from one request to the next, so a request with `Range: bytes=<offset>-` resumes the download.
 */
export class BlobDownload {
  readonly #thread: DownloadThread;
  readonly #target: DownloadTarget;
  readonly #id = nextId++;
  /** Bytes written and hashed so far. */
  offset = 0;
  #listener: Listener | undefined;
  #active: Promise<void> | undefined;
  #ended = false;

  constructor(thread: DownloadThread, target: DownloadTarget) {
    this.#thread = thread;
    this.#target = target;
    thread.load += target.size;
  }

  #listen(listener: Listener): void {
    this.#listener = listener;
    this.#thread.listeners.set(this.#id, listener);
    this.#thread.worker.ref(); // a request is awaited: keep the process alive until it answers
  }

  #unlisten(): void {
    this.#listener = undefined;
    this.#thread.listeners.delete(this.#id);
    if (this.#thread.listeners.size === 0) this.#thread.worker.unref();
  }

  /** Send one GET; resolves with the response head (see {@link WorkerResponse}). */
  send(request: HttpRequest): Promise<WorkerResponse> {
    const thread = this.#thread;
    if (thread.failed) return Promise.reject(thread.failed);
    for (const [name, value] of Object.entries(request.headers ?? {})) {
      if (/[\r\n]/.test(name) || /[\r\n]/.test(value))
        return Promise.reject(new DroverError('REGISTRY_BAD_HEADER', `header ${name} contains a line break`));
    }
    const { signal } = request;
    const onAbort = (): void => thread.worker.postMessage({ type: 'abort', id: this.#id });
    let finished!: () => void;
    this.#active = new Promise<void>((resolve) => {
      finished = resolve;
    });
    const end = (): void => {
      signal?.removeEventListener('abort', onAbort);
      this.#unlisten();
      finished();
    };
    return new Promise<WorkerResponse>((resolve, reject) => {
      let settleTransfer: { resolve: () => void; reject: (e: Error) => void } | undefined;
      const fail = (error: Error): void => {
        end();
        if (settleTransfer) settleTransfer.reject(error);
        else reject(error);
      };
      this.#listen({
        message: (m) => {
          if (m.type === 'progress') {
            this.offset += m.bytes;
            this.#target.onBytes?.(m.bytes);
          } else if (m.type === 'head') {
            const response: WorkerResponse = {
              status: m.status,
              headers: m.headers,
              body: Readable.from(m.body && m.body.byteLength > 0 ? [Buffer.from(m.body)] : []),
              url: request.url,
              restarted: m.restarted === true,
            };
            if (m.restarted) this.offset = 0;
            if (m.streaming) {
              response.transfer = new Promise<void>((res, rej) => {
                settleTransfer = { resolve: res, reject: rej };
              });
              response.transfer.catch(() => {}); // the caller awaits it; never an unhandled rejection
            } else end();
            resolve(response);
          } else if (m.type === 'done') {
            this.offset = m.offset;
            end();
            settleTransfer?.resolve();
          } else if (m.type === 'error') {
            this.offset = m.offset;
            fail(this.#error(m, request));
          }
        },
        fail,
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      thread.worker.postMessage({
        type: 'get',
        id: this.#id,
        url: request.url.href,
        headers: request.headers ?? {},
        timeoutMs: request.timeoutMs,
        fd: this.#target.fd,
        size: this.#target.size,
        algorithm: this.#target.algorithm,
      });
      if (signal?.aborted) onAbort();
    });
  }

  #error(m: { code?: string; message: string; actual?: number }, request: HttpRequest): Error {
    const where = `GET ${request.url.host}${request.url.pathname}`;
    if (m.code === 'REGISTRY_TIMEOUT') {
      return new DroverError('REGISTRY_TIMEOUT', `${where}: no data for ${request.timeoutMs} ms`, {
        kind: 'unavailable',
        hint: 'The registry or network is slow or stuck; retry, or raise the timeout.',
      });
    }
    if (m.code === 'SIZE_MISMATCH') return sizeMismatch(this.#target.label, this.#target.size, m.actual ?? 0);
    return Object.assign(new Error(m.message), {
      ...(m.code ? { code: m.code } : {}),
      ...(m.actual !== undefined ? { actual: m.actual } : {}),
    });
  }

  /** Wait until no request of this download runs on the worker. */
  async #idle(): Promise<void> {
    while (this.#listener && this.#active) await this.#active;
  }

  /** The hex digest of every byte downloaded; ends the download. */
  async digest(): Promise<string> {
    await this.#idle();
    const thread = this.#thread;
    if (thread.failed) throw thread.failed;
    this.#ended = true;
    thread.load -= this.#target.size;
    return new Promise<string>((resolve, reject) => {
      this.#listen({
        message: (m) => {
          if (m.type !== 'digest') return;
          this.#unlisten();
          resolve(m.hex);
        },
        fail: (error) => {
          this.#unlisten();
          reject(error);
        },
      });
      thread.worker.postMessage({ type: 'end', id: this.#id });
    });
  }

  /** Abort a request in flight and forget the download; resolves once the worker no longer touches the file. */
  async cancel(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    const thread = this.#thread;
    thread.load -= this.#target.size;
    if (thread.failed) return;
    if (this.#listener) thread.worker.postMessage({ type: 'abort', id: this.#id });
    await this.#idle();
    if (thread.failed) return;
    await new Promise<void>((resolve) => {
      this.#listen({
        message: (m) => {
          if (m.type !== 'dropped') return;
          this.#unlisten();
          resolve();
        },
        fail: () => {
          this.#unlisten();
          resolve(); // a dead worker touches nothing any more
        },
      });
      thread.worker.postMessage({ type: 'drop', id: this.#id });
    });
  }
}

/** Worker threads that download blobs (started on first use), each download on the least loaded one. */
export class DownloadPool {
  readonly #size: number;
  readonly #ca: string[] | undefined;
  #threads: DownloadThread[] = [];

  /** `ca`: PEM certificates to trust for HTTPS besides Node's bundled CAs. */
  constructor(size: number, ca?: string[]) {
    this.#size = Math.max(1, size);
    this.#ca = ca;
  }

  /** Start every worker now (they otherwise start as downloads need them). */
  prepare(): void {
    while (this.#threads.length < this.#size) this.#threads.push(new DownloadThread(this.#ca));
  }

  /** Start a download of one blob into `target.fd`. */
  start(target: DownloadTarget): BlobDownload {
    let thread = this.#threads.reduce<DownloadThread | undefined>(
      (best, t) => (!t.failed && (!best || t.load < best.load) ? t : best),
      undefined,
    );
    if (!thread || (thread.load > 0 && this.#threads.length < this.#size)) {
      thread = new DownloadThread(this.#ca);
      this.#threads.push(thread);
    }
    return new BlobDownload(thread, target);
  }

  /** Stop the workers. */
  async close(): Promise<void> {
    const threads = this.#threads;
    this.#threads = [];
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }
}
