import { DroverError } from '@drover/core';
import type { TreeGeometry } from './geometry.js';
import { type BlockHashSpec, hashBlock } from './hasher.js';

/**
 * Builds the hash levels bottom-up while data digests stream in. Each level keeps a small window of hash
 * blocks; full windows are written out, completed blocks are hashed into the level above. Memory is
 * O(levels × window), whatever the data size.
 */
export class TreeBuilder {
  private readonly windows: Buffer[];
  /** Entries already placed in each level. */
  private readonly filled: number[];
  /** First block of each level's current window. */
  private readonly windowStart: number[];
  private readonly windowBlocks: number;
  private root: Buffer | undefined;

  constructor(
    private readonly geometry: TreeGeometry,
    private readonly hashBlockSize: number,
    private readonly spec: BlockHashSpec,
    private readonly write: (position: number, bytes: Buffer) => Promise<void>,
  ) {
    this.windowBlocks = Math.max(1, Math.floor((1024 * 1024) / hashBlockSize));
    this.windows = geometry.levels.map((l) =>
      Buffer.alloc(Math.min(l.blocks, this.windowBlocks) * hashBlockSize),
    );
    this.filled = geometry.levels.map(() => 0);
    this.windowStart = geometry.levels.map(() => 0);
  }

  /** Append `count` digests (at entry stride in `digests`) to level 0, or take the root when there is no tree. */
  async addDataDigests(digests: Buffer, count: number): Promise<void> {
    if (this.geometry.levels.length === 0) {
      this.root = Buffer.from(digests.subarray(0, this.geometry.digestSize));
      return;
    }
    await this.add(0, digests, count);
  }

  private async add(level: number, entries: Buffer, count: number): Promise<void> {
    const { perBlock, entrySize } = this.geometry;
    let i = 0;
    while (i < count) {
      const at = this.filled[level]!;
      const blockInLevel = Math.floor(at / perBlock);
      const slotInBlock = at % perBlock;
      const take = Math.min(count - i, perBlock - slotInBlock);
      const window = this.windows[level]!;
      const offset = (blockInLevel - this.windowStart[level]!) * this.hashBlockSize + slotInBlock * entrySize;
      entries.copy(window, offset, i * entrySize, (i + take) * entrySize);
      this.filled[level] = at + take;
      i += take;
      if (slotInBlock + take === perBlock) await this.completeBlock(level, blockInLevel);
    }
  }

  private async completeBlock(level: number, blockInLevel: number): Promise<void> {
    const window = this.windows[level]!;
    const local = blockInLevel - this.windowStart[level]!;
    const block = window.subarray(local * this.hashBlockSize, (local + 1) * this.hashBlockSize);
    const digest = hashBlock(this.spec, block);
    if (level === this.geometry.levels.length - 1) {
      this.root = digest;
    } else {
      const entry = Buffer.alloc(this.geometry.entrySize);
      digest.copy(entry);
      await this.add(level + 1, entry, 1);
    }
    if (local + 1 === window.length / this.hashBlockSize) await this.flush(level, local + 1);
  }

  private async flush(level: number, blocks: number): Promise<void> {
    const window = this.windows[level]!;
    const start = this.geometry.levels[level]!.start + this.windowStart[level]!;
    // The write is awaited before the window is reused, so it can go straight from the window.
    await this.write(start * this.hashBlockSize, window.subarray(0, blocks * this.hashBlockSize));
    window.fill(0);
    this.windowStart[level]! += blocks;
  }

  /** Complete partial blocks level by level, write what is left and return the root hash. */
  async finish(): Promise<Buffer> {
    const { perBlock } = this.geometry;
    for (let level = 0; level < this.geometry.levels.length; level++) {
      const at = this.filled[level]!;
      if (at % perBlock !== 0) await this.completeBlock(level, Math.floor(at / perBlock));
      const pending = Math.ceil(this.filled[level]! / perBlock) - this.windowStart[level]!;
      if (pending > 0) await this.flush(level, pending);
    }
    if (!this.root) {
      throw new DroverError('INTERNAL', 'hash tree finished without a root hash', {
        kind: 'internal',
        hint: 'This is a bug in drover; please report it with the verity parameters used.',
      });
    }
    return this.root;
  }
}
