import { DroverError } from '@drover/core';

/**
 * Hands values from a push-style producer (a callback API such as `RootfsTree.forEachContent`) to a pull-style
 * consumer (an async iterator), one at a time: `send` resolves when the consumer asks for the next value, so
 * a value's streams are fully consumed before its producer callback returns.
 */
export class Rendezvous<T> {
  #item: { value: T; ack: () => void; fail: (e: unknown) => void } | undefined;
  #wake: (() => void) | undefined;
  #closed = false;
  #error: unknown;
  #abandoned = false;

  send(value: T): Promise<void> {
    if (this.#abandoned) return Promise.reject(abandoned());
    return new Promise<void>((ack, fail) => {
      this.#item = { value, ack, fail };
      this.#wake?.();
    });
  }

  /** No more values (or the producer failed with `error`). */
  close(error?: unknown): void {
    this.#closed = true;
    this.#error = error;
    this.#wake?.();
  }

  async *values(): AsyncGenerator<T> {
    let finished = false;
    try {
      while (true) {
        const item = this.#item;
        if (!item) {
          if (this.#closed) {
            finished = true;
            if (this.#error !== undefined) throw this.#error;
            return;
          }
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
          });
          this.#wake = undefined;
          continue;
        }
        this.#item = undefined;
        try {
          yield item.value;
        } finally {
          item.ack();
        }
      }
    } finally {
      if (!finished) {
        this.#abandoned = true;
        this.#item?.fail(abandoned());
      }
    }
  }
}

function abandoned(): DroverError {
  return new DroverError('ROOTFS_STREAM_ABANDONED', 'the consumer stopped reading the tree', {
    kind: 'aborted',
    hint: 'An earlier error stopped the output; see the first error.',
  });
}
