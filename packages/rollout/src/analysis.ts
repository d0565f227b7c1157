import { spawn } from 'node:child_process';
import type { Fleet, FleetMember } from '@drover/core';
import type { Clock } from './clock.js';
import { parseDuration } from './duration.js';
import { resolveQuantity } from './quantity.js';
import type { GateSpec } from './schema.js';

/** One measurement of a gate. */
export interface Measurement {
  result: 'successful' | 'failed' | 'inconclusive' | 'error';
  value?: number | string;
  reason?: string;
}

/** The outcome of an analysis, Argo Rollouts style (worst wins: Successful < Inconclusive < Error < Failed). */
export type AnalysisPhase = 'successful' | 'inconclusive' | 'error' | 'failed';

export interface AnalysisResult {
  gate: string;
  phase: AnalysisPhase;
  measurements: Measurement[];
  reason?: string;
}

/** What a gate can look at. */
export interface GateContext {
  fleet: Fleet;
  /** Members updated so far in this rollout (their current records). */
  updated: () => FleetMember[];
  /** Index of the step the gate follows. */
  stage: number;
  signal?: AbortSignal;
}

/** Takes one measurement of a gate. Injectable: the planner swaps in simulated gates. */
export type GateRunner = (gate: GateSpec, ctx: GateContext) => Promise<Measurement>;

/** Limits with Argo's defaults. */
function limits(gate: GateSpec): {
  count: number;
  intervalMs: number;
  failure: number;
  inconclusive: number;
  errors: number;
} {
  if (gate.type === 'approval') return { count: 1, intervalMs: 0, failure: 0, inconclusive: 0, errors: 4 };
  return {
    count: gate.count ?? 1,
    intervalMs: parseDuration(gate.interval ?? '30s'),
    failure: gate.failureLimit ?? 0,
    inconclusive: gate.inconclusiveLimit ?? 0,
    errors: gate.consecutiveErrorLimit ?? 4,
  };
}

/** Time an analysis takes when every measurement succeeds (first measurement at once, then every interval). */
export function analysisDurationMs(gate: GateSpec): number {
  const l = limits(gate);
  return (l.count - 1) * l.intervalMs;
}

/**
 * Run a gate's analysis: `count` measurements `interval` apart. After each one, in order: failed when failures
 * exceed failureLimit (-1 disables), inconclusive when inconclusives exceed inconclusiveLimit, error when
 * consecutive errors exceed consecutiveErrorLimit. Reaching `count` with no limit exceeded is successful.
 */
export async function runAnalysis(
  gate: GateSpec,
  runner: GateRunner,
  ctx: GateContext,
  clock: Clock,
): Promise<AnalysisResult> {
  const l = limits(gate);
  const measurements: Measurement[] = [];
  let failures = 0;
  let inconclusives = 0;
  let consecutiveErrors = 0;
  let taken = 0;
  while (taken < l.count) {
    let m: Measurement;
    try {
      m = await runner(gate, ctx);
    } catch (error) {
      if ((error as { name?: string }).name === 'ControllerCrash') throw error;
      m = { result: 'error', reason: error instanceof Error ? error.message : String(error) };
    }
    measurements.push(m);
    if (m.result === 'error') {
      consecutiveErrors++;
    } else {
      consecutiveErrors = 0;
      taken++;
      if (m.result === 'failed') failures++;
      if (m.result === 'inconclusive') inconclusives++;
    }
    if (l.failure >= 0 && failures > l.failure)
      return done(
        'failed',
        `${m.reason ? `${m.reason}; ` : ''}${failures} failed measurement(s), limit ${l.failure}`,
      );
    if (inconclusives > l.inconclusive)
      return done(
        'inconclusive',
        `${m.reason ? `${m.reason}; ` : ''}${inconclusives} inconclusive measurement(s), limit ${l.inconclusive}`,
      );
    if (consecutiveErrors > l.errors)
      return done('error', `${consecutiveErrors} consecutive errors, limit ${l.errors}: ${m.reason ?? ''}`);
    if (taken < l.count || m.result === 'error') await clock.sleep(l.intervalMs);
  }
  return done('successful');

  function done(phase: AnalysisPhase, reason?: string): AnalysisResult {
    return { gate: gate.name, phase, measurements, ...(reason ? { reason } : {}) };
  }
}

/** The gates drover evaluates for real: member health, HTTP, command, Prometheus. */
export const defaultGateRunner: GateRunner = async (gate, ctx) => {
  switch (gate.type) {
    case 'health':
      return measureHealth(gate, ctx);
    case 'http':
      return measureHttp(gate, ctx);
    case 'command':
      return measureCommand(gate, ctx);
    case 'prometheus':
      return measurePrometheus(gate, ctx);
    case 'approval':
      return { result: 'successful' };
  }
};

async function measureHealth(
  gate: Extract<GateSpec, { type: 'health' }>,
  ctx: GateContext,
): Promise<Measurement> {
  const members = ctx.updated();
  if (members.length === 0) return { result: 'successful', value: 0 };
  let healthy = 0;
  const reasons: string[] = [];
  for (const m of members) {
    const h = await ctx.fleet.health(m);
    if (h.healthy) healthy++;
    else if (reasons.length < 3) reasons.push(`${m.id}: ${h.reason ?? 'unhealthy'}`);
  }
  const need = resolveQuantity(gate.minHealthy ?? '100%', members.length, 'up');
  return healthy >= need
    ? { result: 'successful', value: healthy }
    : {
        result: 'failed',
        value: healthy,
        reason: `${healthy}/${members.length} healthy, need ${need}; ${reasons.join('; ')}`,
      };
}

async function fetchWithTimeout(url: string, timeoutMs: number, signal?: AbortSignal): Promise<Response> {
  const timeout = AbortSignal.timeout(timeoutMs);
  return fetch(url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
}

async function measureHttp(
  gate: Extract<GateSpec, { type: 'http' }>,
  ctx: GateContext,
): Promise<Measurement> {
  const res = await fetchWithTimeout(gate.url, parseDuration(gate.timeout ?? '10s'), ctx.signal);
  await res.arrayBuffer().catch(() => undefined);
  const ok = gate.expectStatus
    ? gate.expectStatus.includes(res.status)
    : res.status >= 200 && res.status < 300;
  return ok
    ? { result: 'successful', value: res.status }
    : { result: 'failed', value: res.status, reason: `HTTP ${res.status}` };
}

async function measurePrometheus(
  gate: Extract<GateSpec, { type: 'prometheus' }>,
  ctx: GateContext,
): Promise<Measurement> {
  const url = `${gate.url.replace(/\/$/, '')}/api/v1/query?query=${encodeURIComponent(gate.query)}`;
  const res = await fetchWithTimeout(url, parseDuration(gate.timeout ?? '10s'), ctx.signal);
  if (!res.ok) throw new Error(`Prometheus answered HTTP ${res.status}`);
  const body = (await res.json()) as { status?: string; data?: { resultType?: string; result?: unknown } };
  if (body.status !== 'success')
    throw new Error(`Prometheus query failed: ${JSON.stringify(body).slice(0, 200)}`);
  const value = scalarOf(body.data);
  if (value === undefined || Number.isNaN(value))
    return { result: 'inconclusive', reason: 'the query returned no value' };
  const low = gate.min !== undefined && value < gate.min;
  const high = gate.max !== undefined && value > gate.max;
  return low || high
    ? { result: 'failed', value, reason: `${value} is outside [${gate.min ?? '-∞'}, ${gate.max ?? '∞'}]` }
    : { result: 'successful', value };
}

function scalarOf(data: { resultType?: string; result?: unknown } | undefined): number | undefined {
  if (!data) return undefined;
  if (data.resultType === 'scalar' && Array.isArray(data.result)) return Number(data.result[1]);
  if (data.resultType === 'vector' && Array.isArray(data.result)) {
    if (data.result.length !== 1) return undefined;
    const v = (data.result[0] as { value?: [number, string] }).value;
    return v ? Number(v[1]) : undefined;
  }
  return undefined;
}

async function measureCommand(
  gate: Extract<GateSpec, { type: 'command' }>,
  ctx: GateContext,
): Promise<Measurement> {
  const [cmd, ...args] = gate.command as [string, ...string[]];
  const timeoutMs = parseDuration(gate.timeout ?? '5m');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: timeoutMs,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 2000) stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const tail = stderr.trim().split('\n').pop() ?? '';
      if (code === 0) resolve({ result: 'successful', value: 0 });
      else if (code === 3) resolve({ result: 'inconclusive', value: 3, reason: tail });
      else if (code === null) reject(new Error(`${cmd} was killed by ${signal}`));
      else resolve({ result: 'failed', value: code, reason: tail || `exit ${code}` });
    });
  });
}
