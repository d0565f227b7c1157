import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';

// Runs in a worker thread (CommonJS, evaluated from this string so it works from src and from bundles alike).
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
let hash;
parentPort.on('message', (m) => {
  if (m.type === 'start') hash = createHash(m.algorithm);
  else if (m.type === 'data') { hash.update(m.data); parentPort.postMessage({ type: 'ack', bytes: m.data.byteLength }); }
  else if (m.type === 'end') { parentPort.postMessage({ type: 'digest', hex: hash.digest('hex') }); hash = undefined; }
});
`;

/** Bytes handed to the worker but not hashed yet before the stream waits (bounded memory). */
const MAX_IN_FLIGHT = 32 << 20;

/**
 * Hashes streams on a worker thread so that the main thread can parse tar headers (and hash the compressed
 * blob) at the same time. One worker serves several streams one after another; call {@link close} at the end.
 */
export class WorkerHasher {
  readonly #worker: Worker;
  #inFlight = 0;
  #resume: (() => void) | undefined;
  #digest: ((hex: string) => void) | undefined;
  #failed: Error | undefined;

  constructor() {
    this.#worker = new Worker(SOURCE, { eval: true });
    this.#worker.unref();
    this.#worker.on('message', (m: { type: string; bytes?: number; hex?: string }) => {
      if (m.type === 'ack') {
        this.#inFlight -= m.bytes ?? 0;
        if (this.#inFlight <= MAX_IN_FLIGHT / 2 && this.#resume) {
          const resume = this.#resume;
          this.#resume = undefined;
          resume();
        }
      } else if (m.type === 'digest') this.#digest?.(m.hex ?? '');
    });
    this.#worker.on('error', (error) => {
      this.#failed = error;
    });
  }

  /** A pass-through stream whose bytes are hashed on the worker; `digest()` resolves after it ended. */
  tap(algorithm: string): { stream: Transform; digest: () => Promise<string> } {
    this.#worker.postMessage({ type: 'start', algorithm });
    const self = this;
    const stream = new Transform({
      highWaterMark: 4 << 20,
      transform(chunk: Buffer, _enc, callback: TransformCallback) {
        if (self.#failed) {
          callback(self.#failed);
          return;
        }
        const copy = new Uint8Array(chunk); // own buffer, transferred without a second copy
        self.#inFlight += copy.byteLength;
        self.#worker.postMessage({ type: 'data', data: copy }, [copy.buffer]);
        if (self.#inFlight > MAX_IN_FLIGHT) self.#resume = () => callback(null, chunk);
        else callback(null, chunk);
      },
    });
    const digest = (): Promise<string> =>
      new Promise((resolve, reject) => {
        if (this.#failed) {
          reject(this.#failed);
          return;
        }
        this.#digest = (hex) => {
          this.#digest = undefined;
          resolve(hex);
        };
        this.#worker.postMessage({ type: 'end' });
      });
    return { stream, digest };
  }

  /** Stop the worker. */
  async close(): Promise<void> {
    await this.#worker.terminate();
  }
}
