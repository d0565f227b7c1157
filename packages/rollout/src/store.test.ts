import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStateStore, MemoryStateStore } from './index.js';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-rollout-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('FileStateStore', () => {
  it('appends one JSON line per entry and reads them back in order', async () => {
    const s = new FileStateStore(dir);
    await s.append('r1', { type: 'a', n: 1 });
    await s.append('r1', { type: 'b', n: 2 });
    expect(await s.read('r1')).toEqual([
      { type: 'a', n: 1 },
      { type: 'b', n: 2 },
    ]);
    expect(await readFile(join(dir, 'r1.journal'), 'utf8')).toBe('{"type":"a","n":1}\n{"type":"b","n":2}\n');
    expect(await s.read('other')).toEqual([]);
  });
  it('ignores a torn last line (a crash during append) but refuses corruption in the middle', async () => {
    const s = new FileStateStore(dir);
    await s.append('r1', { type: 'a' });
    await appendFile(join(dir, 'r1.journal'), '{"type":"b","trunc');
    expect(await s.read('r1')).toEqual([{ type: 'a' }]);
    await appendFile(join(dir, 'r1.journal'), '\n{"type":"c"}\n');
    await expect(s.read('r1')).rejects.toMatchObject({ code: 'JOURNAL_CORRUPT' });
  });
  it('keeps a second controller off until the lease expires, then lets it take over', async () => {
    let now = 1000;
    const s = new FileStateStore(dir, () => now);
    const a = await s.acquire('r1', 'alice', 5000);
    await expect(s.acquire('r1', 'bob', 5000)).rejects.toMatchObject({
      code: 'LOCK_HELD',
      kind: 'conflict',
      details: { holder: 'alice' },
    });
    await a.renew(5000);
    now = 7000;
    const b = await s.acquire('r1', 'bob', 5000);
    expect(b.holder).toBe('bob');
    await expect(a.renew(5000)).rejects.toMatchObject({ code: 'LOCK_HELD' });
    await a.release();
    await expect(s.acquire('r1', 'carol', 5000)).rejects.toMatchObject({ code: 'LOCK_HELD' });
    await b.release();
    expect((await s.acquire('r1', 'carol', 5000)).holder).toBe('carol');
  });
  it('refuses rollout ids that could escape the directory', async () => {
    await expect(new FileStateStore(dir).append('../x', {})).rejects.toMatchObject({
      code: 'ROLLOUT_ID_INVALID',
    });
  });
});

describe('MemoryStateStore', () => {
  it('has the same lease semantics', async () => {
    let now = 0;
    const s = new MemoryStateStore(() => now);
    await s.acquire('r', 'a', 10);
    await expect(s.acquire('r', 'b', 10)).rejects.toMatchObject({ code: 'LOCK_HELD' });
    now = 11;
    await expect(s.acquire('r', 'b', 10)).resolves.toMatchObject({ holder: 'b' });
  });
});
