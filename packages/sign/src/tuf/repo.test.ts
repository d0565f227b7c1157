import { generateKeyPairSync } from 'node:crypto';
import { copyFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../../test/helpers.js';
import { keySigner } from '../signer.js';
import { verifyRepository } from './client.js';
import type { TufKey } from './keys.js';
import {
  addTargets,
  initRepository,
  readRepository,
  refreshRepository,
  removeTargets,
  rotateRoot,
} from './repo.js';
import { serveDirectory } from './serve.js';

const tempDir = useTempDir();

function newKey(type: 'ec' | 'ed25519' | 'rsa' = 'ed25519'): TufKey {
  const { privateKey, publicKey } =
    type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ed25519');
  return {
    signer: keySigner({ privateKey }),
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

async function newRepo(opts: { now?: Date } = {}) {
  const dir = await tempDir();
  const repo = join(dir, 'repo');
  const keys = {
    root: [newKey('ec')],
    targets: [newKey('ed25519')],
    snapshot: [newKey('rsa')],
    timestamp: [newKey('ec')],
  };
  await initRepository({ dir: repo, keys, ...(opts.now ? { now: opts.now } : {}) });
  const image = join(dir, 'root-1.0.0.img');
  await writeFile(image, Buffer.alloc(100_000, 7));
  return { dir, repo, keys, image, trustedRoot: join(repo, 'metadata', '1.root.json') };
}

async function withServer<T>(dir: string, fn: (url: string) => Promise<T>): Promise<T> {
  const server = await serveDirectory(dir);
  try {
    return await fn(server.url);
  } finally {
    await server.close();
  }
}

describe('TUF repository', () => {
  it('init writes consistent-snapshot files; add makes hash-prefixed targets a tuf-js client verifies over HTTP', async () => {
    const { repo, keys, image, trustedRoot } = await newRepo();
    const added = await addTargets({
      dir: repo,
      targets: [{ file: image, custom: { version: '1.0.0' } }],
      keys,
    });
    const files = (await readdir(join(repo, 'metadata'))).sort();
    expect(files).toEqual([
      '1.root.json',
      '1.snapshot.json',
      '1.targets.json',
      '2.snapshot.json',
      '2.targets.json',
      'root.json',
      'timestamp.json',
    ]);
    const target = added.targets[0];
    expect(target).toMatchObject({ name: 'root-1.0.0.img', length: 100_000, custom: { version: '1.0.0' } });
    expect(await readdir(join(repo, 'targets'))).toEqual([`${target?.sha256}.root-1.0.0.img`]);
    expect(added.roles.timestamp.version).toBe(2);
    const result = await withServer(repo, (url) => verifyRepository({ url, trustedRoot }));
    expect(result.targets).toEqual([{ name: 'root-1.0.0.img', length: 100_000, sha256: target?.sha256 }]);
    expect(result.roles.targets.version).toBe(2);
  });

  it('remove drops a target from the signed metadata', async () => {
    const { repo, keys, image, trustedRoot } = await newRepo();
    await addTargets({ dir: repo, targets: [{ file: image }, { file: image, name: 'other.img' }], keys });
    const after = await removeTargets({ dir: repo, names: ['other.img'], keys });
    expect(after.targets.map((t) => t.name)).toEqual(['root-1.0.0.img']);
    await expect(removeTargets({ dir: repo, names: ['nope'], keys })).rejects.toMatchObject({
      code: 'TUF_TARGET_NOT_FOUND',
    });
    const result = await verifyRepository({ dir: repo, trustedRoot });
    expect(result.targets.map((t) => t.name)).toEqual(['root-1.0.0.img']);
  });

  it('the client rejects an expired timestamp, and refresh re-signs it', async () => {
    const past = new Date(Date.now() - 3 * 86_400_000);
    const { repo, keys, trustedRoot } = await newRepo({ now: past });
    await expect(withServer(repo, (url) => verifyRepository({ url, trustedRoot }))).rejects.toMatchObject({
      code: 'TUF_METADATA_EXPIRED',
    });
    const refreshed = await refreshRepository({
      dir: repo,
      keys: { snapshot: keys.snapshot, timestamp: keys.timestamp },
    });
    // the 7-day snapshot still has 4 days left (more than half its lifetime): only the timestamp is due
    expect(refreshed.refreshed).toEqual(['timestamp']);
    await expect(withServer(repo, (url) => verifyRepository({ url, trustedRoot }))).resolves.toMatchObject({
      verified: true,
    });
    // nothing due right after a refresh
    const again = await refreshRepository({ dir: repo, keys: { timestamp: keys.timestamp } });
    expect(again.refreshed).toEqual([]);
  });

  it('refresh re-signs only the timestamp when only it is close to expiry', async () => {
    const { repo, keys } = await newRepo();
    const soon = new Date(Date.now() + 0.9 * 86_400_000);
    const r = await refreshRepository({ dir: repo, keys: { timestamp: keys.timestamp }, now: soon });
    expect(r.refreshed).toEqual(['timestamp']);
    expect(r.roles.timestamp.version).toBe(2);
    expect(r.roles.snapshot.version).toBe(1);
  });

  it('the client rejects a rollback to an older timestamp it has already seen', async () => {
    const { dir, repo, keys, image, trustedRoot } = await newRepo();
    const oldTimestamp = join(dir, 'old-timestamp.json');
    await copyFile(join(repo, 'metadata', 'timestamp.json'), oldTimestamp);
    await addTargets({ dir: repo, targets: [{ file: image }], keys });
    const cacheDir = join(dir, 'client-cache');
    await withServer(repo, async (url) => {
      await verifyRepository({ url, trustedRoot, cacheDir });
      await copyFile(oldTimestamp, join(repo, 'metadata', 'timestamp.json'));
      await expect(verifyRepository({ url, trustedRoot, cacheDir })).rejects.toMatchObject({
        code: 'TUF_ROLLBACK',
      });
    });
  });

  it('the client rejects a target whose bytes were altered on the server', async () => {
    const { repo, keys, image, trustedRoot } = await newRepo();
    const added = await addTargets({ dir: repo, targets: [{ file: image }], keys });
    const stored = join(repo, 'targets', `${added.targets[0]?.sha256}.root-1.0.0.img`);
    const bytes = await readFile(stored);
    bytes[500] = (bytes[500] ?? 0) ^ 1;
    await writeFile(stored, bytes);
    await expect(verifyRepository({ dir: repo, trustedRoot })).rejects.toMatchObject({
      code: 'TUF_TARGET_HASH_MISMATCH',
      kind: 'integrity',
    });
  });

  it('the client rejects metadata whose signed content was altered (threshold not met)', async () => {
    const { repo, keys, image, trustedRoot } = await newRepo();
    await addTargets({ dir: repo, targets: [{ file: image }], keys });
    const path = join(repo, 'metadata', '2.targets.json');
    const json = JSON.parse(await readFile(path, 'utf8'));
    const name = Object.keys(json.signed.targets)[0] as string;
    json.signed.targets[name].length = 1;
    await writeFile(path, JSON.stringify(json));
    await expect(verifyRepository({ dir: repo, trustedRoot })).rejects.toMatchObject({
      code: /TUF_(THRESHOLD_NOT_MET|METADATA_HASH_MISMATCH)/,
    });
  });

  it('a client that trusts root v1 follows a rotation signed by the old and the new root keys', async () => {
    const { repo, keys, image, trustedRoot } = await newRepo();
    const newRoot = [newKey('ed25519'), newKey('ec')];
    const newTimestamp = [newKey('ed25519')];
    await expect(
      rotateRoot({ dir: repo, currentRootKeys: [], newKeys: { root: newRoot, timestamp: newTimestamp } }),
    ).rejects.toMatchObject({ code: 'TUF_THRESHOLD_NOT_MET' });
    const rotated = await rotateRoot({
      dir: repo,
      currentRootKeys: keys.root,
      newKeys: { root: newRoot, timestamp: newTimestamp },
      thresholds: { root: 2 },
    });
    expect(rotated.roles.root).toMatchObject({ version: 2, threshold: 2 });
    const v2 = JSON.parse(await readFile(join(repo, 'metadata', '2.root.json'), 'utf8'));
    expect(v2.signatures).toHaveLength(3); // one old root key + two new ones
    // the old timestamp key no longer counts
    await expect(addTargets({ dir: repo, targets: [{ file: image }], keys })).rejects.toMatchObject({
      code: 'TUF_THRESHOLD_NOT_MET',
      details: { role: 'timestamp' },
    });
    await addTargets({ dir: repo, targets: [{ file: image }], keys: { ...keys, timestamp: newTimestamp } });
    const result = await verifyRepository({ dir: repo, trustedRoot });
    expect(result.roles.root.version).toBe(2);
    expect(result.targets).toHaveLength(1);
    expect((await readRepository({ dir: repo })).roles.root.keyIds).toHaveLength(2);
  });

  it('init refuses a threshold its keys cannot meet', async () => {
    const dir = await tempDir();
    const k = newKey();
    await expect(
      initRepository({
        dir,
        keys: { root: [k], targets: [k], snapshot: [k], timestamp: [k] },
        roles: { targets: { threshold: 2 } },
      }),
    ).rejects.toMatchObject({
      code: 'TUF_THRESHOLD_NOT_MET',
      details: { role: 'targets', have: 1, threshold: 2 },
    });
  });

  it('with consistentSnapshot false writes plain names that the client also walks', async () => {
    const dir = await tempDir();
    const k = newKey('ec');
    const keys = { root: [k], targets: [k], snapshot: [k], timestamp: [k] };
    await initRepository({ dir, keys, consistentSnapshot: false });
    const file = join(dir, 'a.txt');
    await writeFile(file, 'hello');
    await addTargets({ dir, targets: [{ file, name: 'sub/a.txt' }], keys });
    expect(await readdir(join(dir, 'targets', 'sub'))).toEqual(['a.txt']);
    expect((await readdir(join(dir, 'metadata'))).sort()).toEqual([
      '1.root.json',
      'root.json',
      'snapshot.json',
      'targets.json',
      'timestamp.json',
    ]);
    const result = await verifyRepository({ dir, trustedRoot: join(dir, 'metadata', 'root.json') });
    expect(result.targets[0]?.name).toBe('sub/a.txt');
  });
});
