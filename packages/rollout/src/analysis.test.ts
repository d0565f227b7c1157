import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Fleet } from '@drover/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultGateRunner, type GateSpec, type Measurement, runAnalysis, VirtualClock } from './index.js';

const fleet: Fleet = {
  id: 'none',
  members: async () => [],
  health: async () => ({ healthy: true, checkedAt: '' }),
};
const ctx = { fleet, updated: () => [], stage: 0 };

function scripted(results: Measurement['result'][]) {
  let i = 0;
  return async () => {
    const r = results[i++] ?? 'successful';
    if (r === 'error') throw new Error('boom');
    return { result: r };
  };
}
const gate = (extra: Partial<Extract<GateSpec, { type: 'prometheus' }>> = {}): GateSpec => ({
  name: 'm',
  type: 'prometheus',
  url: 'http://x',
  query: 'q',
  max: 1,
  interval: '1m',
  ...extra,
});

describe('runAnalysis (Argo Rollouts semantics)', () => {
  it('succeeds after `count` good measurements, `interval` apart', async () => {
    const clock = new VirtualClock(0);
    const p = runAnalysis(gate({ count: 3 }), scripted([]), ctx, clock);
    await clock.advanceTo(10 * 60_000);
    const r = await p;
    expect(r.phase).toBe('successful');
    expect(r.measurements).toHaveLength(3);
  });
  it('fails when failures exceed failureLimit (default 0); -1 disables it', async () => {
    const clock = new VirtualClock(0);
    expect((await runAnalysis(gate(), scripted(['failed']), ctx, clock)).phase).toBe('failed');
    const p = runAnalysis(
      gate({ count: 3, failureLimit: -1 }),
      scripted(['failed', 'failed', 'failed']),
      ctx,
      clock,
    );
    await clock.advanceTo(10 * 60_000);
    expect((await p).phase).toBe('successful');
  });
  it('tolerates failures up to the limit and checks failure before inconclusive', async () => {
    const clock = new VirtualClock(0);
    const p = runAnalysis(
      gate({ count: 3, failureLimit: 1 }),
      scripted(['failed', 'successful', 'successful']),
      ctx,
      clock,
    );
    await clock.advanceTo(10 * 60_000);
    expect((await p).phase).toBe('successful');
    expect(
      (await runAnalysis(gate({ count: 2, inconclusiveLimit: 0 }), scripted(['inconclusive']), ctx, clock))
        .phase,
    ).toBe('inconclusive');
  });
  it('errors only after more than consecutiveErrorLimit errors in a row (default 4)', async () => {
    const clock = new VirtualClock(0);
    const p = runAnalysis(gate(), scripted(['error', 'error', 'error', 'error', 'error']), ctx, clock);
    await clock.advanceTo(60 * 60_000);
    const r = await p;
    expect(r.phase).toBe('error');
    expect(r.measurements).toHaveLength(5);
    const q = runAnalysis(
      gate({ consecutiveErrorLimit: 2 }),
      scripted(['error', 'error', 'successful']),
      ctx,
      clock,
    );
    await clock.advanceTo(120 * 60_000);
    expect((await q).phase).toBe('successful');
  });
});

describe('defaultGateRunner', () => {
  let server: ReturnType<typeof createServer>;
  let base = '';
  let promValue = '0.001';
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url?.startsWith('/api/v1/query')) {
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            status: 'success',
            data: {
              resultType: 'vector',
              result: promValue === '' ? [] : [{ metric: {}, value: [0, promValue] }],
            },
          }),
        );
        return;
      }
      res.statusCode = req.url === '/ok' ? 200 : 503;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });

  it('http: 2xx succeeds, anything else fails', async () => {
    expect((await defaultGateRunner({ name: 'h', type: 'http', url: `${base}/ok` }, ctx)).result).toBe(
      'successful',
    );
    expect(await defaultGateRunner({ name: 'h', type: 'http', url: `${base}/bad` }, ctx)).toMatchObject({
      result: 'failed',
      value: 503,
    });
  });
  it('prometheus: threshold on a single value; no value is inconclusive', async () => {
    const g: GateSpec = { name: 'p', type: 'prometheus', url: base, query: 'rate(errors[5m])', max: 0.01 };
    promValue = '0.001';
    expect((await defaultGateRunner(g, ctx)).result).toBe('successful');
    promValue = '0.5';
    expect((await defaultGateRunner(g, ctx)).result).toBe('failed');
    promValue = '';
    expect((await defaultGateRunner(g, ctx)).result).toBe('inconclusive');
  });
  it('command: exit 0 succeeds, 3 is inconclusive, others fail', async () => {
    expect((await defaultGateRunner({ name: 'c', type: 'command', command: ['true'] }, ctx)).result).toBe(
      'successful',
    );
    expect(
      (await defaultGateRunner({ name: 'c', type: 'command', command: ['sh', '-c', 'exit 3'] }, ctx)).result,
    ).toBe('inconclusive');
    expect(
      await defaultGateRunner(
        { name: 'c', type: 'command', command: ['sh', '-c', 'echo broken >&2; exit 1'] },
        ctx,
      ),
    ).toMatchObject({ result: 'failed', reason: 'broken' });
  });
});
