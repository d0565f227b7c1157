import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { DroverError } from '@drover/core';

// Runs in a worker thread (CommonJS, evaluated from this string so it works from src and from bundles alike).
// It keeps one hash per session id, so several streams can be hashed on one worker at the same time.
// A session hashes either bytes sent to it ('data', transferred) or byte ranges it reads back from a file
// descriptor the main thread is writing ('range'), which costs the main thread no copy at all.
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { readSync } = require('node:fs');
const hashes = new Map();
const failures = new Map();
const buffer = Buffer.allocUnsafe(1 << 20);
parentPort.on('message', (m) => {
  if (m.type === 'start') hashes.set(m.id, createHash(m.algorithm));
  else if (m.type === 'data') {
    hashes.get(m.id).update(m.data);
    parentPort.postMessage({ type: 'ack', bytes: m.data.byteLength });
  } else if (m.type === 'range') {
    const hash = hashes.get(m.id);
    if (hash && !failures.has(m.id)) {
      try {
        for (let at = m.position, left = m.length; left > 0; ) {
          const n = readSync(m.fd, buffer, 0, Math.min(buffer.length, left), at);
          if (n === 0) throw new Error('file ended at byte ' + at);
          hash.update(buffer.subarray(0, n));
          at += n;
          left -= n;
        }
      } catch (error) {
        failures.set(m.id, String(error && error.message));
      }
    }
  } else if (m.type === 'end') {
    const hash = hashes.get(m.id);
    const failure = failures.get(m.id);
    hashes.delete(m.id);
    failures.delete(m.id);
    parentPort.postMessage({ type: 'digest', id: m.id, hex: failure === undefined ? hash.digest('hex') : undefined, error: failure });
  } else if (m.type === 'drop') {
    hashes.delete(m.id);
    failures.delete(m.id);
    parentPort.postMessage({ type: 'dropped', id: m.id });
  }
});
`;

/** Bytes handed to the worker but not hashed yet before writers wait (bounded memory). */
const MAX_IN_FLIGHT = 32 << 20;

/** One running hash on a {@link WorkerHasher}. */
export interface HashSession {
  /**
   * Hash these bytes next. The buffer is transferred to the worker (it is unusable afterwards), so pass memory
   * the caller owns outright, never a view into a pooled or shared buffer. Resolves once the worker has room for
   * more (at most 32 MiB queued per worker).
   */
  update(data: Uint8Array): Promise<void>;
  /**
   * Hash `length` bytes of the open file `fd` from `position` next, read back on the worker (from the page cache
   * right after a write). The descriptor must stay open until `digest()` or `cancel()` resolved.
   */
  updateFromFile(fd: number, position: number, length: number): void;
  /** The hex digest of everything passed to `update`; ends the session. */
  digest(): Promise<string>;
  /** Forget the session (after an error); resolves once the worker no longer touches its file descriptor. */
  cancel(): Promise<void>;
}

/**
 * Hashes on a worker thread so that the main thread can parse tar headers, HTTP responses or hash something
 * else at the same time. One worker serves any number of sessions at once; call {@link close} at the end.
 */
export class WorkerHasher {
  readonly #worker: Worker;
  #inFlight = 0;
  #waiting: Array<() => void> = [];
  readonly #digests = new Map<number, { resolve: (hex: string) => void; reject: (e: Error) => void }>();
  readonly #drops = new Map<number, () => void>();
  #nextId = 1;
  #failed: Error | undefined;

  constructor() {
    this.#worker = new Worker(SOURCE, { eval: true });
    this.#worker.unref();
    this.#worker.on(
      'message',
      (m: { type: string; id?: number; bytes?: number; hex?: string; error?: string }) => {
        const id = m.id ?? 0;
        if (m.type === 'ack') {
          this.#inFlight -= m.bytes ?? 0;
          if (this.#inFlight <= MAX_IN_FLIGHT / 2) this.#wake();
        } else if (m.type === 'digest') {
          const pending = this.#digests.get(id);
          this.#digests.delete(id);
          if (m.error === undefined) pending?.resolve(m.hex ?? '');
          else {
            pending?.reject(
              new DroverError('OCI_HASH_READ', `reading back bytes to hash failed: ${m.error}`, {
                kind: 'io',
                hint: 'The file being written could not be read; check the disk and retry.',
              }),
            );
          }
        } else if (m.type === 'dropped') {
          this.#drops.get(id)?.();
          this.#drops.delete(id);
        }
      },
    );
    this.#worker.on('error', (error) => this.#fail(error));
    this.#worker.on('exit', () => this.#fail(new Error('hash worker exited')));
  }

  /** Bytes queued on the worker and not hashed yet. */
  get inFlight(): number {
    return this.#inFlight;
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const resume of waiting) resume();
  }

  #fail(error: Error): void {
    this.#failed ??= error;
    this.#wake();
    for (const pending of this.#digests.values()) pending.reject(this.#failed);
    this.#digests.clear();
    for (const dropped of this.#drops.values()) dropped(); // a dead worker reads nothing any more
    this.#drops.clear();
  }

  /** Start hashing a new stream of bytes with `algorithm` (e.g. `sha256`). */
  session(algorithm: string): HashSession {
    const id = this.#nextId++;
    let ended = false;
    this.#worker.postMessage({ type: 'start', id, algorithm });
    return {
      update: (data) => {
        if (this.#failed) return Promise.reject(this.#failed);
        this.#inFlight += data.byteLength;
        this.#worker.postMessage({ type: 'data', id, data }, [data.buffer as ArrayBuffer]);
        if (this.#inFlight <= MAX_IN_FLIGHT) return Promise.resolve();
        return new Promise<void>((resolve) => this.#waiting.push(resolve));
      },
      updateFromFile: (fd, position, length) => {
        if (!this.#failed) this.#worker.postMessage({ type: 'range', id, fd, position, length });
      },
      digest: () =>
        new Promise<string>((resolve, reject) => {
          if (this.#failed) {
            reject(this.#failed);
            return;
          }
          ended = true;
          this.#digests.set(id, { resolve, reject });
          this.#worker.postMessage({ type: 'end', id });
        }),
      cancel: () => {
        if (ended || this.#failed) return Promise.resolve();
        ended = true;
        return new Promise<void>((resolve) => {
          this.#drops.set(id, resolve);
          this.#worker.postMessage({ type: 'drop', id });
        });
      },
    };
  }

  /** A pass-through stream whose bytes are hashed on the worker; `digest()` resolves after it ended. */
  tap(algorithm: string): { stream: Transform; digest: () => Promise<string> } {
    const session = this.session(algorithm);
    const stream = new Transform({
      highWaterMark: 4 << 20,
      transform(chunk: Buffer, _enc, callback: TransformCallback) {
        // own buffer, transferred without a second copy
        session.update(new Uint8Array(chunk)).then(() => callback(null, chunk), callback);
      },
    });
    return { stream, digest: () => session.digest() };
  }

  /** Stop the worker. */
  async close(): Promise<void> {
    await this.#worker.terminate();
  }
}
