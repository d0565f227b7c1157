import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageRef } from '@drover/core';
import { MemoryStateStore, RealClock, type RolloutSpec, startRollout } from '@drover/rollout';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestImage } from './fixture.js';
import { LocalFleet } from './fleet.js';
import { LocalStore } from './store.js';

// An end-to-end check against the real rollout engine: the local fleet is driven exactly as the CLI drives it.

let dir: string;
let store: LocalStore;
let v1: ImageRef;
let v2: ImageRef;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-rollout-'));
  store = await LocalStore.open({ dir: join(dir, 'store') });
  for (const v of ['1.0.0', '2.0.0']) {
    const img = await createTestImage({ dir: join(dir, 'img', v), version: v });
    const ref = await store.publish(img.record, img.artifacts);
    if (v === '1.0.0') v1 = ref;
    else v2 = ref;
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function spec(image: ImageRef): RolloutSpec {
  return {
    apiVersion: 'drover.dev/v1',
    kind: 'Rollout',
    name: 'local-canary',
    image,
    strategy: { type: 'canary', steps: [{ count: 1, gates: ['healthy'] }, { percent: 100 }] },
    defaultBudget: 2,
    gates: [{ name: 'healthy', type: 'health', count: 1, interval: '10ms' }],
    health: { timeout: '2s', interval: '20ms' },
  } as RolloutSpec;
}

async function fleetOf(name: string): Promise<LocalFleet> {
  return LocalFleet.init({
    dir: join(dir, name),
    store: store.dir,
    nodes: 4,
    image: v1,
    rootSize: 512 * 1024,
    hashSize: 64 * 1024,
  });
}

describe('@drover/rollout on a local fleet', () => {
  it('rolls a canary out to every node', async () => {
    const fleet = await fleetOf('ok');
    const r = await startRollout({
      id: 'r1',
      spec: spec(v2),
      fleet,
      store: new MemoryStateStore(),
      clock: new RealClock(),
      holder: 'test',
    });
    expect(r.status).toBe('completed');
    expect(r.members).toMatchObject({ total: 4, updated: 4, failed: 0 });
    for (const m of await fleet.members()) {
      expect(m).toMatchObject({ state: 'ready', image: { digest: v2.digest }, labels: { bank: 'b' } });
    }
  });

  it('halts and rolls back when the canary node fails its health check', async () => {
    const fleet = await fleetOf('bad');
    // Every node is unhealthy on the new image: whichever node the engine picks first fails and falls back.
    for (const m of await fleet.members()) await fleet.injectFault({ node: m.id, unhealthy: true });
    const r = await startRollout({
      id: 'r2',
      spec: spec(v2),
      fleet,
      store: new MemoryStateStore(),
      clock: new RealClock(),
      holder: 'test',
    });
    expect(r.status).toBe('rolled-back');
    expect(r.reason).toMatch(/failed/);
    // Only the canary was touched; it fell back by itself, the other three never left the old image.
    expect(r.members).toMatchObject({ total: 4, failed: 1, updated: 0, pending: 3 });
    for (const m of await fleet.members()) expect(m.image?.digest).toBe(v1.digest);
    const states = await Promise.all((await fleet.members()).map((m) => fleet.nodeState(m.id)));
    expect(states.filter((s) => s.boots > 0)).toHaveLength(1);
    // It booted the new bank, then the failed health check rebooted it into bank A (its known-good bank).
    const touched = states.find((s) => s.boots > 0)!;
    expect(touched.boots).toBeGreaterThanOrEqual(2);
    expect(touched).toMatchObject({ booted: 'a', banks: { a: { digest: v1.digest } } });
  });
});
