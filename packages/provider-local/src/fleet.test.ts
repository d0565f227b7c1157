import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ImageRef, isDroverError, type ProgressEvent } from '@drover/core';
import { readGptPrio, writeGptPrio } from '@drover/image';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestImage } from './fixture.js';
import { bankSizesFor, LocalFleet, verityTreeBytes } from './fleet.js';
import { LocalStore } from './store.js';

let dir: string;
let store: LocalStore;
let v1: ImageRef;
let v2: ImageRef;
let v3: ImageRef;
let bad: ImageRef;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-fleet-'));
  store = await LocalStore.open({ dir: join(dir, 'store') });
  const publish = async (version: string, tamper = false): Promise<ImageRef> => {
    const img = await createTestImage({ dir: join(dir, 'img', version), version });
    if (tamper) {
      // Blobs are intact (digests match) but the record claims another root hash.
      img.record.verity = { ...img.record.verity!, rootHash: 'ab'.repeat(32) };
    }
    return store.publish(img.record, img.artifacts);
  };
  v1 = await publish('1.0.0');
  v2 = await publish('2.0.0');
  v3 = await publish('3.0.0');
  bad = await publish('6.6.6', true);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sgdisk = (...args: string[]): string => execFileSync('sgdisk', args, { encoding: 'utf8' });

/** gptprio bits as sgdisk reports them: `Attribute flags: <16 hex digits>`. */
function sgdiskPrio(disk: string, n: number): { priority: number; tries: number; successful: boolean } {
  const out = sgdisk('-i', String(n), disk);
  const m = /Attribute flags: ([0-9A-Fa-f]{16})/.exec(out);
  expect(m, out).not.toBeNull();
  const a = BigInt(`0x${m![1]}`);
  return {
    priority: Number((a >> 48n) & 0xfn),
    tries: Number((a >> 52n) & 0xfn),
    successful: ((a >> 56n) & 1n) === 1n,
  };
}

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (error) {
    if (isDroverError(error)) return error.code;
    throw error;
  }
  return 'no error';
};

async function newFleet(name: string, nodes = 3): Promise<LocalFleet> {
  return LocalFleet.init({
    dir: join(dir, name),
    store: store.dir,
    nodes,
    image: v1,
    rootSize: 1024 * 1024,
    hashSize: 64 * 1024,
    zones: ['eu/eu-1a', 'eu/eu-1b'],
  });
}

describe('LocalFleet', () => {
  it('creates nodes with valid A/B disks, bank A known good, spread over zones', async () => {
    const fleet = await newFleet('init');
    const members = await fleet.members();
    expect(members.map((m) => [m.id, m.region, m.zone, m.state, m.image?.digest])).toEqual([
      ['node-01', 'eu', 'eu-1a', 'ready', v1.digest],
      ['node-02', 'eu', 'eu-1b', 'ready', v1.digest],
      ['node-03', 'eu', 'eu-1a', 'ready', v1.digest],
    ]);
    for (const m of members) expect(m.seed).toBeGreaterThanOrEqual(0);
    const disk = fleet.diskPath('node-01');
    expect(sgdisk('-v', disk)).toMatch(/No problems found/);
    expect(sgdiskPrio(disk, 1)).toEqual({ priority: 1, tries: 0, successful: true });
    expect(sgdiskPrio(disk, 5)).toEqual({ priority: 0, tries: 0, successful: false });
    expect(await codeOf(newFleet('init'))).toBe('FLEET_EXISTS');
    // Progress: one task counting nodes, nothing per partition.
    const events: ProgressEvent[] = [];
    await LocalFleet.init(
      {
        dir: join(dir, 'progress'),
        store: store.dir,
        nodes: 2,
        image: v1,
        rootSize: 1024 * 1024,
        hashSize: 65536,
      },
      { onProgress: (e) => events.push(e) },
    );
    expect(new Set(events.map((e) => e.task)).size).toBe(1);
    expect(events.at(-1)).toMatchObject({ type: 'done', completed: 2, ok: true });
    expect(await codeOf(LocalFleet.open({ dir: join(dir, 'nowhere') }))).toBe('FLEET_NOT_FOUND');
  });

  it('updates into the inactive bank, flips gptprio like signpost, boots it and confirms it on health', async () => {
    const fleet = await newFleet('update');
    const [m] = await fleet.members();
    const disk = fleet.diskPath(m!.id);
    const after = await fleet.update(m!, v2);
    expect(after.image?.digest).toBe(v2.digest);
    expect(after.labels?.bank).toBe('b');
    expect(sgdisk('-v', disk)).toMatch(/No problems found/);
    // New bank: highest priority, its one try used by the boot, not yet successful; old bank keeps success.
    expect(sgdiskPrio(disk, 5)).toEqual({ priority: 2, tries: 0, successful: false });
    expect(sgdiskPrio(disk, 1)).toEqual({ priority: 1, tries: 0, successful: true });
    // Unconfirmed: a second update would overwrite the last known-good bank, so it is refused.
    expect(await codeOf(fleet.update(after, v3))).toBe('FLEET_NODE_UNCONFIRMED');
    expect((await fleet.health(after)).healthy).toBe(true);
    expect(sgdiskPrio(disk, 5)).toEqual({ priority: 2, tries: 0, successful: true });
    // Another process sees the same truth.
    const reopened = await LocalFleet.open({ dir: fleet.dir });
    expect((await reopened.member(m!.id))?.image?.digest).toBe(v2.digest);
    // Next update goes back to bank A.
    const third = await reopened.update(after, v3);
    expect(third.labels?.bank).toBe('a');
    expect(sgdiskPrio(disk, 1)).toEqual({ priority: 2, tries: 0, successful: false });
    expect(sgdiskPrio(disk, 5)).toEqual({ priority: 1, tries: 0, successful: true });
    expect(sgdisk('-v', disk)).toMatch(/No problems found/);
    // Root and hash partitions hold the image bytes.
    const rec = await store.record(v3);
    const root = rec.artifacts.find((a) => a.name === 'root')!;
    const info = sgdisk('-i', '2', disk);
    const first = Number(/First sector: (\d+)/.exec(info)![1]);
    const bytes = (await readFile(disk)).subarray(first * 512, first * 512 + root.size);
    expect(bytes.equals(await readFile(store.blobPath(root.digest)))).toBe(true);
  });

  it('rolls back to the known-good bank before the new one is confirmed, without rewriting it', async () => {
    const fleet = await newFleet('rollback', 1);
    const [m] = await fleet.members();
    const disk = fleet.diskPath(m!.id);
    const after = await fleet.update(m!, v2);
    expect(after.labels?.bank).toBe('b');
    const back = await fleet.update(after, v1);
    expect(back).toMatchObject({ image: { digest: v1.digest }, labels: { bank: 'a' }, state: 'ready' });
    expect(sgdiskPrio(disk, 1)).toEqual({ priority: 2, tries: 0, successful: true });
    expect(sgdiskPrio(disk, 5)).toEqual({ priority: 1, tries: 0, successful: false });
    expect(sgdisk('-v', disk)).toMatch(/No problems found/);
    // Bank A was confirmed all along, so a new update may go ahead (into B).
    expect((await fleet.update(back, v3)).labels?.bank).toBe('b');
  });

  it('falls back by itself when the new bank fails to boot', async () => {
    const fleet = await newFleet('bootfail');
    const [m] = await fleet.members();
    await fleet.injectFault({ node: m!.id, failBoots: true });
    const after = await fleet.update(m!, v2);
    expect(after.image?.digest).toBe(v1.digest);
    expect(after.labels?.bank).toBe('a');
    const state = await fleet.nodeState(m!.id);
    expect(state.lastBoot?.failed).toEqual([{ bank: 'b', reason: 'simulated boot failure' }]);
    expect(sgdiskPrio(fleet.diskPath(m!.id), 5)).toEqual({ priority: 2, tries: 0, successful: false });
    // The fault was consumed: the next update boots.
    expect((await fleet.update(after, v2)).image?.digest).toBe(v2.digest);
  });

  it('falls back by itself when the new bank fails its health check', async () => {
    const fleet = await newFleet('unhealthy');
    const [m] = await fleet.members();
    await fleet.injectFault({ node: m!.id, unhealthy: true });
    const after = await fleet.update(m!, v2);
    expect(after.image?.digest).toBe(v2.digest);
    const h = await fleet.health(after);
    expect(h.healthy).toBe(false);
    expect(h.reason).toMatch(/rebooted into bank A/);
    const now = await fleet.member(m!.id);
    expect(now?.image?.digest).toBe(v1.digest);
    expect(now?.state).toBe('ready');
    // Known good bank stays unhealthy-but-running while the flag is set.
    expect((await fleet.health(now!)).healthy).toBe(false);
    expect((await fleet.member(m!.id))?.state).toBe('unhealthy');
    await fleet.injectFault({ node: m!.id, unhealthy: false });
    expect((await fleet.health(now!)).healthy).toBe(true);
    expect((await fleet.member(m!.id))?.state).toBe('ready');
  });

  it('refuses to flip banks when the written root does not match the record root hash', async () => {
    const fleet = await newFleet('verity');
    const [m] = await fleet.members();
    const disk = fleet.diskPath(m!.id);
    const err = await fleet.update(m!, bad).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FLEET_VERITY_MISMATCH', kind: 'integrity' });
    expect(await readGptPrio({ path: disk, partition: 'DROVER-BOOT-B' })).toMatchObject({
      priority: 0,
      tries: 0,
      successful: false,
    });
    expect(sgdiskPrio(disk, 1)).toEqual({ priority: 1, tries: 0, successful: true });
    const now = await fleet.member(m!.id);
    expect(now).toMatchObject({ state: 'ready', image: { digest: v1.digest } });
    // A reboot still lands on A.
    expect((await fleet.reboot(now!)).labels?.bank).toBe('a');
  });

  it('refuses a tampered blob while writing a bank', async () => {
    const fleet = await newFleet('tamper');
    const [m] = await fleet.members();
    const root = (await store.record(v3)).artifacts.find((a) => a.name === 'root')!;
    const blob = store.blobPath(root.digest);
    const good = await readFile(blob);
    const evil = Buffer.from(good);
    evil[0] = (evil[0] ?? 0) ^ 1;
    await writeFile(blob, evil);
    try {
      expect(await codeOf(fleet.update(m!, v3))).toBe('DIGEST_MISMATCH');
    } finally {
      await writeFile(blob, good);
    }
    expect(sgdiskPrio(fleet.diskPath(m!.id), 5)).toEqual({ priority: 0, tries: 0, successful: false });
    expect((await fleet.member(m!.id))?.image?.digest).toBe(v1.digest);
  });

  it('treats an update whose process died as never flipped', async () => {
    const fleet = await newFleet('crash', 1);
    const [m] = await fleet.members();
    const statePath = join(fleet.dir, 'nodes', m!.id, 'state.json');
    const state = JSON.parse(await readFile(statePath, 'utf8'));
    state.state = 'updating';
    state.updating = { pid: 2 ** 22 + 12345, bank: 'b', image: v2, since: new Date().toISOString() };
    await writeFile(statePath, JSON.stringify(state));
    expect((await fleet.member(m!.id))?.state).toBe('ready');
    expect((await fleet.update(m!, v2)).image?.digest).toBe(v2.digest);
  });

  it('a controller that dies after the bank flip leaves the node on its old bank until it reboots', async () => {
    const fleet = await newFleet('crash-flip', 1);
    const [m] = await fleet.members();
    const statePath = join(fleet.dir, 'nodes', m!.id, 'state.json');
    const updated = await fleet.update(m!, v2);
    expect((await fleet.health(updated)).healthy).toBe(true);
    // Replay an update to v3 that died right after flipping bank A: state says rebooting, the GPT prefers A.
    const disk = fleet.diskPath(m!.id);
    await writeGptPrio({ path: disk, partition: 'DROVER-BOOT-A', priority: 2, tries: 1, successful: false });
    await writeGptPrio({ path: disk, partition: 'DROVER-BOOT-B', priority: 1 });
    const state = JSON.parse(await readFile(statePath, 'utf8'));
    state.state = 'rebooting';
    state.banks.a = v3;
    state.updating = { pid: 2 ** 22 + 12346, bank: 'a', image: v3, since: new Date().toISOString() };
    await writeFile(statePath, JSON.stringify(state));
    const seen = await fleet.member(m!.id);
    expect(seen).toMatchObject({ state: 'ready', image: { digest: v2.digest }, labels: { bank: 'b' } });
    // Its next reboot tries the new bank.
    expect(await fleet.reboot(seen!)).toMatchObject({ image: { digest: v3.digest }, labels: { bank: 'a' } });
  });

  it('switches traffic with an atomic active-set pointer (blue-green), only to an image some ready node runs', async () => {
    const fleet = await newFleet('traffic', 2);
    expect(await fleet.activeSet()).toBeUndefined();
    expect(await codeOf(fleet.switchTraffic(v2))).toBe('FLEET_NO_ACTIVE_SET');
    const [m] = await fleet.members();
    await fleet.health(await fleet.update(m!, v2));
    await fleet.switchTraffic(v2);
    expect(await fleet.activeSet()).toMatchObject({ image: { digest: v2.digest }, members: [m!.id] });
    await fleet.switchTraffic(v1);
    const back = await (await LocalFleet.open({ dir: fleet.dir })).activeSet();
    expect(back).toMatchObject({ image: { digest: v1.digest } });
    expect(back?.members).toHaveLength(1);
  });

  it('names unknown nodes and bad options', async () => {
    const fleet = await newFleet('errors', 1);
    expect(await codeOf(fleet.health({ id: 'node-99', state: 'ready' }))).toBe('FLEET_UNKNOWN_NODE');
    expect(await codeOf(fleet.injectFault({ node: '../x' }))).toBe('FLEET_UNKNOWN_NODE');
    expect(await codeOf(LocalFleet.init({ dir: join(dir, 'zero'), store: store.dir, nodes: 0 }))).toBe(
      'FLEET_BAD_SIZE',
    );
    expect(await fleet.constraints()).toEqual({});
  });
});

describe('bankSizesFor', () => {
  it('sizes banks from the root and root-verity artifacts, with headroom, rounded up to MiB', async () => {
    const img = await createTestImage({ dir: join(dir, 'sizes'), version: '9.0.0', rootSize: 1536 * 1024 });
    const sizes = bankSizesFor(img.record);
    expect(sizes.rootBytes).toBe(1536 * 1024);
    expect(sizes.hashBytes).toBe(img.record.artifacts.find((a) => a.name === 'root-verity')?.size);
    expect(sizes.rootSize).toBe(3 * 1024 * 1024);
    expect(sizes.hashSize).toBe(1024 * 1024);
    expect(bankSizesFor(img.record, { headroom: 0 }).rootSize).toBe(2 * 1024 * 1024);
    // A disk-only image: the verity data and tree, not its whole partitions.
    const diskOnly = {
      ...img.record,
      artifacts: [{ ...img.record.artifacts[0]!, name: 'disk', path: 'disk.img', size: 1 << 30 }],
    };
    expect(bankSizesFor(diskOnly)).toMatchObject({
      rootBytes: img.record.verity!.dataBlocks * 4096,
      hashBytes: verityTreeBytes(img.record.verity!),
    });
    expect(() => bankSizesFor({ ...img.record, artifacts: [] })).toThrow(/no root filesystem/);
  });
});
