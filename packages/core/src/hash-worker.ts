import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { DroverError } from './error.js';

// Runs in a worker thread (CommonJS, evaluated from this string so it works from src, from the package bundle
// and from the CLI bundle alike). It keeps the running hashes of any number of sessions, so several streams
// can be hashed on one worker at the same time. A session is fed with bytes sent to it ('data', transferred),
// byte ranges it reads itself from a file descriptor ('range', no copy on the sending thread), or runs of
// zeros ('zeros'). A batch session hashes many small streams (one per key) from shared batches of bytes.
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { readSync } = require('node:fs');
const sessions = new Map();
const buffer = Buffer.allocUnsafe(1 << 20);
const zeros = Buffer.alloc(1 << 20);
const hex = (hashes) => hashes.map((h) => h.digest('hex'));
parentPort.on('message', (m) => {
  const s = sessions.get(m.id);
  switch (m.type) {
    case 'start':
      sessions.set(m.id, { algorithms: m.algorithms, hashes: m.batch ? undefined : m.algorithms.map((a) => createHash(a)), keys: new Map(), failure: undefined });
      break;
    case 'data':
      if (s && !s.failure) for (const h of s.hashes) h.update(m.data);
      parentPort.postMessage({ type: 'ack', id: m.id, bytes: m.data.byteLength });
      break;
    case 'zeros':
      if (s && !s.failure) {
        for (let left = m.length; left > 0; left -= zeros.length) {
          const piece = left >= zeros.length ? zeros : zeros.subarray(0, left);
          for (const h of s.hashes) h.update(piece);
        }
      }
      break;
    case 'range':
      if (s && !s.failure) {
        try {
          for (let at = m.position, left = m.length; left > 0; ) {
            const n = readSync(m.fd, buffer, 0, Math.min(buffer.length, left), at);
            if (n === 0) throw new Error('the file ended at byte ' + at);
            const piece = buffer.subarray(0, n);
            for (const h of s.hashes) h.update(piece);
            at += n;
            left -= n;
          }
        } catch (error) {
          s.failure = String((error && error.message) || error);
        }
      }
      break;
    case 'batch': {
      const results = [];
      if (s) {
        const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
        const segs = m.segments;
        for (let i = 0; i < segs.length; i += 4) {
          const key = segs[i];
          let hashes = s.keys.get(key);
          if (!hashes) {
            hashes = s.algorithms.map((a) => createHash(a));
            s.keys.set(key, hashes);
          }
          if (segs[i + 2] > segs[i + 1]) {
            const piece = data.subarray(segs[i + 1], segs[i + 2]);
            for (const h of hashes) h.update(piece);
          }
          if (segs[i + 3] === 1) {
            results.push([key, hex(hashes)]);
            s.keys.delete(key);
          }
        }
      }
      parentPort.postMessage({ type: 'ack', id: m.id, bytes: m.data.byteLength, results });
      break;
    }
    case 'end':
      sessions.delete(m.id);
      parentPort.postMessage({ type: 'digest', id: m.id, hex: s && !s.failure ? (s.hashes ? hex(s.hashes) : []) : undefined, error: s ? s.failure : 'unknown session' });
      break;
    case 'drop':
      sessions.delete(m.id);
      parentPort.postMessage({ type: 'dropped', id: m.id });
      break;
  }
});
`;

/** Bytes handed to a worker but not hashed yet before senders wait (bounded memory). */
const MAX_IN_FLIGHT = 32 << 20;
/** Size of one batch of a {@link BatchHasher}. */
const BATCH_BYTES = 1 << 20;

/** One running hash (of one or more algorithms over the same bytes) on a {@link WorkerHasher}. */
export interface HashSession {
  /**
   * Hash these bytes next. The buffer is transferred to the worker (it is unusable afterwards), so pass memory
   * the caller owns outright, never a view into a pooled or shared buffer. Resolves once the worker has room for
   * more (at most 32 MiB queued per worker).
   */
  update(data: Uint8Array): Promise<void>;
  /**
   * Hash `length` bytes of the open file `fd` from `position` next, read on the worker (from the page cache
   * right after a write). The descriptor must stay open until `digest()` or `cancel()` resolved.
   */
  updateFromFile(fd: number, position: number, length: number): void;
  /** Hash `length` zero bytes next (holes of a sparse file, padding), without allocating them. */
  updateZeros(length: number): void;
  /** The hex digest (of the first algorithm) of everything passed so far; ends the session. */
  digest(): Promise<string>;
  /** The hex digests, one per algorithm in the order given; ends the session. */
  digests(): Promise<string[]>;
  /** Forget the session (after an error); resolves once the worker no longer touches its file descriptor. */
  cancel(): Promise<void>;
}

/**
 * Many small streams hashed on a worker, e.g. every file of a filesystem: bytes are copied into shared 1 MiB
 * batches, so a small file costs no message of its own.
 */
export interface BatchHasher {
  /** Hash `data` next in stream `key` (copied; the caller keeps its buffer). Resolves when there is room. */
  add(key: number, data: Uint8Array): Promise<void>;
  /** End stream `key` (a key never given to `add` is the empty stream). */
  end(key: number): void;
  /** The digests of every ended stream (hex per algorithm, in the order given); ends the batch session. */
  finish(): Promise<Map<number, string[]>>;
  /** Forget everything (after an error). */
  cancel(): Promise<void>;
}

interface Pending {
  resolve: (hex: string[]) => void;
  reject: (e: Error) => void;
}

/**
 * Hashes on a worker thread so that the calling thread can parse, decompress, write or hash something else at
 * the same time. One worker serves any number of sessions at once; call {@link WorkerHasher.close} at the end,
 * or use {@link sharedWorkerHasher}, whose workers live as long as the process. The worker keeps the process
 * alive only while it has work the caller waits for.
 */
export class WorkerHasher {
  readonly #worker: Worker;
  #inFlight = 0;
  #waiting: Array<() => void> = [];
  readonly #digests = new Map<number, Pending>();
  readonly #drops = new Map<number, () => void>();
  readonly #batchResults = new Map<number, Map<number, string[]>>();
  #nextId = 1;
  #failed: Error | undefined;
  #busy = 0;

  constructor() {
    this.#worker = new Worker(SOURCE, { eval: true });
    this.#worker.on(
      'message',
      (m: {
        type: string;
        id?: number;
        bytes?: number;
        hex?: string[];
        error?: string;
        results?: [number, string[]][];
      }) => {
        const id = m.id ?? 0;
        if (m.type === 'ack') {
          if (m.results) {
            const into = this.#batchResults.get(id);
            if (into) for (const [key, hex] of m.results) into.set(key, hex);
          }
          this.#inFlight -= m.bytes ?? 0;
          this.#release();
          if (this.#inFlight <= MAX_IN_FLIGHT / 2) this.#wake();
        } else if (m.type === 'digest') {
          const pending = this.#digests.get(id);
          this.#digests.delete(id);
          this.#release();
          if (m.hex !== undefined) pending?.resolve(m.hex);
          else {
            pending?.reject(
              new DroverError('HASH_READ', `reading back bytes to hash failed: ${m.error}`, {
                kind: 'io',
                hint: 'The file being hashed could not be read; check the disk and retry.',
              }),
            );
          }
        } else if (m.type === 'dropped') {
          this.#release();
          this.#drops.get(id)?.();
          this.#drops.delete(id);
        }
      },
    );
    this.#worker.on('error', (error) => this.#fail(error));
    this.#worker.on('exit', () => this.#fail(new Error('hash worker exited')));
    this.#worker.unref(); // after the listeners: adding a 'message' listener refs the worker again
  }

  /** Bytes queued on the worker and not hashed yet. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** False once the worker died (every later call rejects). */
  get healthy(): boolean {
    return this.#failed === undefined;
  }

  // The worker is referenced (keeps the process alive) exactly while a reply is awaited.
  #hold(): void {
    if (this.#busy++ === 0) this.#worker.ref();
  }

  #release(): void {
    if (this.#busy > 0 && --this.#busy === 0) this.#worker.unref();
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
    this.#busy = 0;
    this.#worker.unref();
  }

  #send(message: Record<string, unknown>, transfer?: ArrayBuffer[]): void {
    this.#worker.postMessage(message, transfer);
  }

  /** Queue transferred bytes; resolves when the worker has room for more. */
  #queue(message: Record<string, unknown>, data: Uint8Array): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    this.#inFlight += data.byteLength;
    this.#hold();
    this.#send({ ...message, data }, [data.buffer as ArrayBuffer]);
    if (this.#inFlight <= MAX_IN_FLIGHT) return Promise.resolve();
    return new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #end(id: number): Promise<string[]> {
    return new Promise<string[]>((resolve, reject) => {
      if (this.#failed) {
        reject(this.#failed);
        return;
      }
      this.#digests.set(id, { resolve, reject });
      this.#hold();
      this.#send({ type: 'end', id });
    });
  }

  #drop(id: number): Promise<void> {
    if (this.#failed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#drops.set(id, resolve);
      this.#hold();
      this.#send({ type: 'drop', id });
    });
  }

  /** Start hashing a new stream of bytes with `algorithm` (e.g. `sha256`), or several at once. */
  session(algorithm: string | readonly string[]): HashSession {
    const id = this.#nextId++;
    const algorithms = typeof algorithm === 'string' ? [algorithm] : [...algorithm];
    let ended = false;
    this.#send({ type: 'start', id, algorithms });
    const finish = (): Promise<string[]> => {
      ended = true;
      return this.#end(id);
    };
    return {
      update: (data) => this.#queue({ type: 'data', id }, data),
      updateFromFile: (fd, position, length) => {
        if (!this.#failed && length > 0) this.#send({ type: 'range', id, fd, position, length });
      },
      updateZeros: (length) => {
        if (!this.#failed && length > 0) this.#send({ type: 'zeros', id, length });
      },
      digest: async () => (await finish())[0]!,
      digests: finish,
      cancel: () => {
        if (ended) return Promise.resolve();
        ended = true;
        return this.#drop(id);
      },
    };
  }

  /** Hash many small streams, keyed by number, with each of `algorithms`. */
  batch(algorithms: readonly string[]): BatchHasher {
    const id = this.#nextId++;
    const results = new Map<number, string[]>();
    this.#batchResults.set(id, results);
    this.#send({ type: 'start', id, algorithms: [...algorithms], batch: true });
    let buffer = Buffer.allocUnsafeSlow(BATCH_BYTES);
    let used = 0;
    let segments: number[] = [];
    let done = false;
    const flush = (): Promise<void> => {
      if (segments.length === 0) return Promise.resolve();
      const data = new Uint8Array(buffer.buffer, 0, used);
      const message = { type: 'batch', id, segments };
      buffer = Buffer.allocUnsafeSlow(BATCH_BYTES);
      used = 0;
      segments = [];
      return this.#queue(message, data);
    };
    return {
      add: async (key, data) => {
        let at = 0;
        while (at < data.length) {
          if (used === BATCH_BYTES) await flush();
          const n = Math.min(data.length - at, BATCH_BYTES - used);
          buffer.set(data.subarray(at, at + n), used);
          segments.push(key, used, used + n, 0);
          used += n;
          at += n;
        }
      },
      end: (key) => {
        segments.push(key, used, used, 1);
      },
      finish: async () => {
        done = true;
        await flush();
        await this.#end(id); // replies after every batch before it, so the results are complete
        this.#batchResults.delete(id);
        return results;
      },
      cancel: async () => {
        if (done) return;
        done = true;
        this.#batchResults.delete(id);
        await this.#drop(id);
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

let pool: WorkerHasher[] | undefined;
let next = 0;

/**
 * A hashing worker from a small process-wide pool (one per core, at most four), handed out in turn. The pool's
 * workers are never closed; they do not keep the process alive when idle.
 */
export function sharedWorkerHasher(): WorkerHasher {
  pool = (pool ?? []).filter((hasher) => hasher.healthy);
  const size = Math.max(1, Math.min(4, availableParallelism()));
  if (pool.length < size) {
    const hasher = new WorkerHasher();
    pool.push(hasher);
    return hasher;
  }
  next = (next + 1) % pool.length;
  return pool[next]!;
}
