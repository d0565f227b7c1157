import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageRef } from '@drover/core';
import { readGptPrio } from '@drover/image';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestImage } from './fixture.js';
import { LocalFleet } from './fleet.js';
import { LocalStore } from './store.js';

type Op =
  | { t: 'update'; image: number }
  | { t: 'updateBad' }
  | { t: 'failBoot' }
  | { t: 'unhealthy'; on: boolean }
  | { t: 'health' }
  | { t: 'reboot' };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ t: fc.constant('update' as const), image: fc.integer({ min: 0, max: 2 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'updateBad' as const }) },
  { weight: 2, arbitrary: fc.constant({ t: 'failBoot' as const }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('unhealthy' as const), on: fc.boolean() }) },
  { weight: 4, arbitrary: fc.constant({ t: 'health' as const }) },
  { weight: 2, arbitrary: fc.constant({ t: 'reboot' as const }) },
);

let dir: string;
let store: LocalStore;
let images: ImageRef[];
let bad: ImageRef;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-ab-'));
  store = await LocalStore.open({ dir: join(dir, 'store') });
  images = [];
  for (const v of ['1.0.0', '2.0.0', '3.0.0']) {
    const img = await createTestImage({ dir: join(dir, 'img', v), version: v, rootSize: 16 * 4096 });
    images.push(await store.publish(img.record, img.artifacts));
  }
  const img = await createTestImage({ dir: join(dir, 'img', 'bad'), version: 'bad', rootSize: 16 * 4096 });
  img.record.verity = { ...img.record.verity!, rootHash: '00'.repeat(32) };
  bad = await store.publish(img.record, img.artifacts);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('any sequence of updates, boot failures and health results keeps one bank booted and the last known-good bank', async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
      const fleet = await LocalFleet.init({
        dir: join(dir, `fleet-${run++}`),
        store: store.dir,
        nodes: 1,
        image: images[0]!,
        rootSize: 128 * 1024,
        hashSize: 16 * 1024,
      });
      const disk = fleet.diskPath('node-01');
      // The model: what the node should run, whether that bank is confirmed, and the last confirmed image.
      const model = {
        current: images[0]!.digest,
        confirmed: true,
        lastGood: images[0]!.digest,
        pendingFail: false,
      };
      let member = (await fleet.member('node-01'))!;
      for (const o of ops) {
        switch (o.t) {
          case 'update':
          case 'updateBad': {
            const target = o.t === 'update' ? images[o.image]! : bad;
            const result = await fleet.update(member, target).catch((e: { code?: string }) => e);
            if (!model.confirmed && target.digest === model.lastGood) {
              // Rollback before confirmation: back to the known-good bank without rewriting it.
              expect(result).toMatchObject({ image: { digest: model.lastGood } });
              model.current = model.lastGood;
              model.confirmed = true;
              model.pendingFail = false;
            } else if (!model.confirmed) {
              expect(result).toMatchObject({ code: 'FLEET_NODE_UNCONFIRMED' });
            } else if (o.t === 'updateBad') {
              expect(result).toMatchObject({ code: 'FLEET_VERITY_MISMATCH' });
            } else if (model.pendingFail) {
              model.pendingFail = false; // the new bank's one try failed; back on the confirmed bank
            } else {
              model.current = target.digest;
              model.confirmed = false;
            }
            break;
          }
          case 'failBoot':
            await fleet.injectFault({ node: 'node-01', failBoots: true });
            model.pendingFail = true;
            break;
          case 'unhealthy':
            await fleet.injectFault({ node: 'node-01', unhealthy: o.on });
            (model as { unhealthy?: boolean }).unhealthy = o.on;
            break;
          case 'health': {
            const h = await fleet.health(member);
            const unhealthy = (model as { unhealthy?: boolean }).unhealthy === true;
            expect(h.healthy).toBe(!unhealthy);
            if (!unhealthy) {
              model.confirmed = true;
              model.lastGood = model.current;
            } else if (!model.confirmed) {
              model.current = model.lastGood;
              model.confirmed = true;
              model.pendingFail = false;
            }
            break;
          }
          case 'reboot':
            await fleet.reboot(member);
            if (!model.confirmed) {
              model.current = model.lastGood;
              model.confirmed = true;
            }
            model.pendingFail = false;
            break;
        }
        member = (await fleet.member('node-01'))!;
        const state = await fleet.nodeState('node-01');
        // Exactly one bank booted, running what the model says.
        expect(state.booted === 'a' || state.booted === 'b').toBe(true);
        expect(member.image?.digest).toBe(model.current);
        const prio = {
          a: await readGptPrio({ path: disk, partition: 'DROVER-BOOT-A' }),
          b: await readGptPrio({ path: disk, partition: 'DROVER-BOOT-B' }),
        };
        const booted = prio[state.booted!];
        expect(booted.priority).toBeGreaterThan(0);
        expect(booted.successful).toBe(model.confirmed);
        // The last known-good image is always in a bank that can boot on its own.
        const good = (['a', 'b'] as const).filter(
          (b) => prio[b].successful && prio[b].priority > 0 && state.banks[b]?.digest === model.lastGood,
        );
        expect(good.length).toBeGreaterThanOrEqual(1);
      }
      expect(execFileSync('sgdisk', ['-v', disk], { encoding: 'utf8' })).toMatch(/No problems found/);
      await rm(fleet.dir, { recursive: true, force: true });
    }),
    { numRuns: 40 },
  );
}, 180_000);
