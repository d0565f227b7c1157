import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Context, DroverError, type Lease, type StateStore, toDroverError } from '@drover/core';

/** A journal entry as stored. */
export type JournalEntry = Record<string, unknown>;

const ID_PATTERN = /^[a-z0-9][a-z0-9._-]*$/;

function checkId(rolloutId: string): void {
  if (!ID_PATTERN.test(rolloutId)) {
    throw new DroverError('ROLLOUT_ID_INVALID', `invalid rollout id "${rolloutId}"`, {
      hint: 'Rollout ids are lowercase letters, digits, dots, dashes and underscores.',
    });
  }
}

function lockHeld(rolloutId: string, holder: string, expiresAt: number): DroverError {
  return new DroverError('LOCK_HELD', `rollout ${rolloutId} is being driven by ${holder}`, {
    kind: 'conflict',
    hint: `Wait for it to finish, or until its lease expires at ${new Date(expiresAt).toISOString()}.`,
    details: { holder, expiresAt },
  });
}

/** Journal and lease in memory: for plans, tests and benchmarks. `now` lets a virtual clock drive lease expiry. */
export class MemoryStateStore implements StateStore {
  readonly id = 'memory';
  readonly #journals = new Map<string, JournalEntry[]>();
  readonly #leases = new Map<string, { holder: string; expiresAt: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  async append(rolloutId: string, entry: JournalEntry): Promise<void> {
    let j = this.#journals.get(rolloutId);
    if (!j) {
      j = [];
      this.#journals.set(rolloutId, j);
    }
    j.push(entry);
  }
  async read(rolloutId: string): Promise<JournalEntry[]> {
    return [...(this.#journals.get(rolloutId) ?? [])];
  }
  /** The journal without a copy (tests and the planner read it often). */
  peek(rolloutId: string): readonly JournalEntry[] {
    return this.#journals.get(rolloutId) ?? [];
  }
  async acquire(rolloutId: string, holder: string, ttlMs: number): Promise<Lease> {
    const cur = this.#leases.get(rolloutId);
    const now = this.now();
    if (cur && cur.holder !== holder && cur.expiresAt > now)
      throw lockHeld(rolloutId, cur.holder, cur.expiresAt);
    const record = { holder, expiresAt: now + ttlMs };
    this.#leases.set(rolloutId, record);
    const leases = this.#leases;
    const clock = this.now;
    return {
      holder,
      get expiresAt() {
        return record.expiresAt;
      },
      async release() {
        if (leases.get(rolloutId) === record) leases.delete(rolloutId);
      },
      async renew(ttl: number) {
        const c = leases.get(rolloutId);
        if (c !== record && c && c.expiresAt > clock()) throw lockHeld(rolloutId, c.holder, c.expiresAt);
        record.expiresAt = clock() + ttl;
        leases.set(rolloutId, record);
      },
    };
  }
}

/**
 * Journal and lease in a directory: `<id>.journal` holds one JSON entry per line, appended and fsynced before
 * `append` returns; `<id>.lease` holds the lease, taken with an exclusive create (or over an expired one).
 */
export class FileStateStore implements StateStore {
  readonly id = 'file';
  constructor(
    readonly directory: string,
    private readonly now: () => number = Date.now,
  ) {}

  async append(rolloutId: string, entry: JournalEntry, _ctx: Context = {}): Promise<void> {
    checkId(rolloutId);
    try {
      await mkdir(this.directory, { recursive: true });
      const fh = await open(join(this.directory, `${rolloutId}.journal`), 'a');
      try {
        await fh.write(`${JSON.stringify(entry)}\n`);
        await fh.datasync();
      } finally {
        await fh.close();
      }
    } catch (error) {
      throw toDroverError(error, `appending to the journal of rollout ${rolloutId}`);
    }
  }

  async read(rolloutId: string, _ctx: Context = {}): Promise<JournalEntry[]> {
    checkId(rolloutId);
    let text: string;
    try {
      text = await readFile(join(this.directory, `${rolloutId}.journal`), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw toDroverError(error, `reading the journal of rollout ${rolloutId}`);
    }
    const lines = text.split('\n');
    const out: JournalEntry[] = [];
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i] as string;
      if (line === '') continue;
      try {
        out.push(JSON.parse(line) as JournalEntry);
      } catch (error) {
        // A torn last line is what a crash during append leaves behind: the entry was never acknowledged.
        if (i >= lines.length - 2) break;
        throw new DroverError(
          'JOURNAL_CORRUPT',
          `journal of rollout ${rolloutId} is corrupt at line ${i + 1}`,
          {
            kind: 'integrity',
            hint: 'The journal was edited or damaged; restore it from a backup or start a new rollout.',
            cause: error,
          },
        );
      }
    }
    return out;
  }

  async acquire(rolloutId: string, holder: string, ttlMs: number, _ctx: Context = {}): Promise<Lease> {
    checkId(rolloutId);
    const path = join(this.directory, `${rolloutId}.lease`);
    await mkdir(this.directory, { recursive: true }).catch((e) => {
      throw toDroverError(e, 'creating the state directory');
    });
    const write = async (flag: 'wx' | 'w', expiresAt: number): Promise<void> => {
      const tmp = `${path}.${process.pid}.${holder.replace(/[^a-zA-Z0-9]/g, '_')}.tmp`;
      if (flag === 'wx') {
        const fh = await open(path, 'wx');
        try {
          await fh.write(JSON.stringify({ holder, expiresAt }));
          await fh.datasync();
        } finally {
          await fh.close();
        }
        return;
      }
      await writeFile(tmp, JSON.stringify({ holder, expiresAt }));
      await rename(tmp, path);
    };
    const readLease = async (): Promise<{ holder: string; expiresAt: number } | undefined> => {
      try {
        return JSON.parse(await readFile(path, 'utf8')) as { holder: string; expiresAt: number };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        if (error instanceof SyntaxError) return { holder: 'unknown', expiresAt: 0 };
        throw toDroverError(error, 'reading the rollout lease');
      }
    };
    let expiresAt = this.now() + ttlMs;
    try {
      await write('wx', expiresAt);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST')
        throw toDroverError(error, 'taking the rollout lease');
      const cur = await readLease();
      if (cur && cur.holder !== holder && cur.expiresAt > this.now())
        throw lockHeld(rolloutId, cur.holder, cur.expiresAt);
      // Expired (or ours): take it over. Remove then create exclusively, so two takers cannot both win.
      await rm(path, { force: true });
      try {
        await write('wx', expiresAt);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
          const other = await readLease();
          throw lockHeld(rolloutId, other?.holder ?? 'another controller', other?.expiresAt ?? 0);
        }
        throw toDroverError(e, 'taking the rollout lease');
      }
    }
    const now = this.now;
    return {
      holder,
      get expiresAt() {
        return expiresAt;
      },
      async release() {
        const cur = await readLease();
        if (cur?.holder === holder) await rm(path, { force: true });
      },
      async renew(ttl: number) {
        const cur = await readLease();
        if (cur && cur.holder !== holder && cur.expiresAt > now())
          throw lockHeld(rolloutId, cur.holder, cur.expiresAt);
        expiresAt = now() + ttl;
        await write('w', expiresAt);
      },
    };
  }
}
