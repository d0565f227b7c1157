import { readFile } from 'node:fs/promises';
import { type Context, DroverError, didYouMean, type ImageRef, toDroverError } from '@drover/core';
import { Cron } from 'croner';
import type { z } from 'zod';
import { DURATION_PATTERN, parseDuration } from './duration.js';
import { type RolloutSpec, rolloutJsonSchema, rolloutSpecSchema, type ScheduleSpec } from './schema.js';
import { type PositionedYaml, parsePositionedYaml, type SourcePosition, YamlSyntaxError } from './yaml.js';

/** One thing wrong with a spec, with where it is. */
export interface SpecProblem {
  /** Dotted path in the document (`strategy.steps.1.bake`), `''` for the root. */
  path: string;
  file: string;
  line: number;
  column: number;
  message: string;
  hint?: string;
}

export interface ParseRolloutSpecOptions {
  /** YAML (or JSON) text of the spec. */
  text: string;
  /** File name used in problems. */
  file?: string;
}

export interface ParsedRolloutSpec {
  spec: RolloutSpec;
  /** The image the spec rolls out (absent when it names a channel). */
  image?: ImageRef;
  /** The store channel the spec names instead of a digest (`image: { channel: stable }`). */
  channel?: string;
}

/** Parse and validate a rollout spec; throws ROLLOUT_SPEC_INVALID listing every problem with its line and column. */
export function parseRolloutSpec(options: ParseRolloutSpecOptions): ParsedRolloutSpec {
  const file = options.file ?? '<input>';
  const problems: SpecProblem[] = [];
  let doc: PositionedYaml;
  try {
    doc = parsePositionedYaml(options.text, file);
  } catch (error) {
    if (error instanceof YamlSyntaxError) {
      throw invalid(file, [{ path: '', file, ...error.position, message: `YAML: ${error.message}` }]);
    }
    throw error;
  }
  const locate = (path: string, preferKey = false): SourcePosition => {
    let p = path;
    for (;;) {
      const pos = preferKey
        ? (doc.keyAt.get(p) ?? doc.valueAt.get(p))
        : (doc.valueAt.get(p) ?? doc.keyAt.get(p));
      if (pos) return pos;
      if (p === '') return { line: 1, column: 1 };
      p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '';
    }
  };
  const report = (path: string, message: string, hint?: string, preferKey = false): void => {
    problems.push({ path, file, ...locate(path, preferKey), message, ...(hint ? { hint } : {}) });
  };

  const result = rolloutSpecSchema.safeParse(doc.value ?? {});
  if (!result.success) {
    for (const issue of result.error.issues) reportIssue(issue, doc.value, report);
    throw invalid(file, problems);
  }
  const spec = result.data;
  checkSemantics(spec, report);
  if (problems.length > 0) throw invalid(file, problems);
  const channel = imageChannelOf(spec);
  return channel !== undefined ? { spec, channel } : { spec, image: imageRefOf(spec.image) };
}

/** The channel a spec's `image` names (`image: { channel: stable }`), or undefined for a content address. */
export function imageChannelOf(spec: RolloutSpec): string | undefined {
  const image = spec.image as unknown;
  return typeof image === 'object' && image !== null && 'channel' in image
    ? String((image as { channel: string }).channel)
    : undefined;
}

/** The spec with its image replaced by a resolved reference (what the journal then records). */
export function withImage(spec: RolloutSpec, image: ImageRef): RolloutSpec {
  return {
    ...spec,
    image: { uri: image.uri, digest: image.digest, ...(image.version ? { version: image.version } : {}) },
  };
}

/** Read and parse a rollout spec file. */
export async function loadRolloutSpec(
  options: { path: string },
  _ctx: Context = {},
): Promise<ParsedRolloutSpec> {
  let text: string;
  try {
    text = await readFile(options.path, 'utf8');
  } catch (error) {
    throw toDroverError(error, 'reading the rollout spec');
  }
  return parseRolloutSpec({ text, file: options.path });
}

/** The ImageRef a spec's `image` field names. */
export function imageRefOf(image: RolloutSpec['image']): ImageRef {
  if (typeof image === 'object' && 'channel' in image) {
    throw new DroverError(
      'ROLLOUT_IMAGE_UNRESOLVED',
      `the spec names channel ${image.channel}, not an image digest`,
      {
        kind: 'usage',
        hint: 'Resolve the channel against an image store first (drover rollout start does, with --store).',
      },
    );
  }
  if (typeof image === 'string') {
    const digest = image.slice(-71) as ImageRef['digest'];
    return { uri: image, digest };
  }
  return {
    uri: image.uri,
    digest: image.digest as ImageRef['digest'],
    ...(image.version ? { version: image.version } : {}),
  };
}

type Report = (path: string, message: string, hint?: string, preferKey?: boolean) => void;

function pathOf(parts: readonly PropertyKey[]): string {
  return parts.map(String).join('.');
}

function valueAtPath(root: unknown, parts: readonly PropertyKey[]): unknown {
  let v = root;
  for (const p of parts) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[String(p)];
  }
  return v;
}

let knownKeys: string[] | undefined;
/** Every field name the schema defines, for did-you-mean hints on unknown fields. */
function allKnownKeys(): string[] {
  if (knownKeys) return knownKeys;
  const keys = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      const props = (node as { properties?: Record<string, unknown> }).properties;
      if (props) for (const k of Object.keys(props)) keys.add(k);
      Object.values(node).forEach(walk);
    }
  };
  walk(rolloutJsonSchema());
  knownKeys = [...keys];
  return knownKeys;
}

function reportIssue(issue: z.core.$ZodIssue, root: unknown, report: Report): void {
  const path = pathOf(issue.path);
  if (issue.code === 'unrecognized_keys') {
    for (const key of issue.keys) {
      const suggestion = didYouMean(key, allKnownKeys());
      report(
        path === '' ? key : `${path}.${key}`,
        `unknown field "${key}"`,
        suggestion ? `Did you mean "${suggestion}"?` : 'Remove it; docs/rollout.md lists every field.',
        true,
      );
    }
    return;
  }
  if (issue.code === 'invalid_union' && 'discriminator' in issue && issue.discriminator) {
    const d = issue.discriminator as string;
    const parts = issue.path[issue.path.length - 1] === d ? issue.path : [...issue.path, d];
    const value = valueAtPath(root, parts);
    if (value !== undefined && typeof valueAtPath(root, parts.slice(0, -1)) !== 'object') {
      report(pathOf(parts.slice(0, -1)), 'expected a mapping');
      return;
    }
    report(
      pathOf(parts),
      value === undefined
        ? `missing "${issue.discriminator}"`
        : `unknown ${issue.discriminator} ${JSON.stringify(value)}`,
      'See docs/rollout.md for the accepted values.',
    );
    return;
  }
  if (
    issue.code === 'invalid_union' &&
    'errors' in issue &&
    Array.isArray(issue.errors) &&
    issue.errors.length > 0
  ) {
    // Report the alternative that got furthest (fewest issues), so the message is about what the user meant.
    const best = [...issue.errors].sort((a, b) => a.length - b.length)[0] ?? [];
    if (best.length > 0 && best.every((i) => i.code !== 'invalid_type' || i.path.length > 0)) {
      for (const inner of best) reportIssue({ ...inner, path: [...issue.path, ...inner.path] }, root, report);
      return;
    }
  }
  const value = valueAtPath(root, issue.path);
  if (issue.code === 'invalid_type' && value === undefined) {
    report(
      path,
      `missing required field "${String(issue.path[issue.path.length - 1] ?? '')}"`,
      undefined,
      true,
    );
    return;
  }
  report(path, issue.message);
}

function checkSemantics(spec: RolloutSpec, report: Report): void {
  const gateNames = new Set<string>();
  (spec.gates ?? []).forEach((g, i) => {
    if (gateNames.has(g.name)) report(`gates.${i}.name`, `duplicate gate name "${g.name}"`);
    gateNames.add(g.name);
    if (g.type === 'prometheus' && g.min === undefined && g.max === undefined) {
      report(
        `gates.${i}`,
        'a prometheus gate needs a threshold',
        'Add `max:` (or `min:`) for the query result.',
      );
    }
  });
  const checkRefs = (refs: string[] | undefined, base: string): void => {
    (refs ?? []).forEach((ref, i) => {
      if (!gateNames.has(ref)) {
        const s = didYouMean(ref, [...gateNames]);
        report(
          `${base}.gates.${i}`,
          `unknown gate "${ref}"`,
          s ? `Did you mean "${s}"?` : 'Define it under `gates:`.',
        );
      }
    });
  };
  const st = spec.strategy;
  switch (st.type) {
    case 'rolling':
    case 'canary': {
      const mu = st.maxUnavailable ?? 1;
      const ms = st.maxSurge ?? 0;
      if (isZero(mu) && isZero(ms)) {
        report(
          'strategy.maxUnavailable',
          'maxUnavailable and maxSurge are both zero: no member could ever be updated',
          'Allow at least one: e.g. maxUnavailable: 1, or maxSurge: 1 with action: replace.',
        );
      }
      if (!isZero(ms) && (spec.action ?? 'update') !== 'replace') {
        report('strategy.maxSurge', 'maxSurge needs action: replace', 'In-place (A/B) updates cannot surge.');
      }
      if (st.type === 'rolling') checkRefs(st.gates, 'strategy');
      else {
        let last = 0;
        st.steps.forEach((step, i) => {
          checkRefs(step.gates, `strategy.steps.${i}`);
          const target = 'count' in step ? step.count : step.percent;
          const kind = 'count' in step ? 'count' : 'percent';
          const prev = st.steps[i - 1];
          if (prev && kind === ('count' in prev ? 'count' : 'percent') && target < last) {
            report(
              `strategy.steps.${i}.${kind}`,
              `canary steps are cumulative: ${target} is below the previous step`,
            );
          }
          last = target;
        });
      }
      break;
    }
    case 'waves':
      checkRefs(st.gates, 'strategy');
      if (st.maxUnavailablePerZone !== undefined && isZero(st.maxUnavailablePerZone)) {
        report('strategy.maxUnavailablePerZone', 'a per-zone budget of zero allows no disruption');
      }
      break;
    case 'blue-green':
      checkRefs(st.gates, 'strategy');
      if ((spec.action ?? 'replace') === 'update' && spec.action !== undefined) {
        report('action', 'blue-green needs action: replace', 'Blue-green brings up a new set of members.');
      }
      break;
    case 'seeded': {
      let prevSeed = -1;
      st.waves.forEach((w, i) => {
        if (w.seed <= prevSeed) report(`strategy.waves.${i}.seed`, 'wave seed bounds must increase');
        prevSeed = w.seed;
        if (!isWaveStart(w.start)) {
          report(
            `strategy.waves.${i}.start`,
            `"${w.start}" is neither an RFC 3339 time nor +duration`,
            'e.g. 2026-11-23T00:00:00Z or +2h',
          );
        }
      });
      break;
    }
  }
  (spec.budgets ?? []).forEach((b, i) => {
    if (b.schedule) checkSchedule(b.schedule, `budgets.${i}.schedule`, report);
  });
  (spec.windows ?? []).forEach((w, i) => {
    checkSchedule(w, `windows.${i}`, report);
  });
}

function isWaveStart(text: string): boolean {
  if (text.startsWith('+')) return DURATION_PATTERN.test(text.slice(1));
  return (
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/.test(text) &&
    !Number.isNaN(Date.parse(text))
  );
}

function checkSchedule(s: ScheduleSpec, path: string, report: Report): void {
  if (s.timeZone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: s.timeZone });
    } catch {
      report(
        `${path}.timeZone`,
        `unknown time zone "${s.timeZone}"`,
        'Use an IANA name such as Europe/Berlin or UTC.',
      );
      return;
    }
  }
  try {
    new Cron(s.cron, { timezone: s.timeZone ?? 'UTC', paused: true });
  } catch (error) {
    report(
      `${path}.cron`,
      `invalid cron expression "${s.cron}": ${(error as Error).message}`,
      'Five fields: minute hour day-of-month month day-of-week, e.g. "0 2 * * *".',
    );
  }
  if (parseDuration(s.duration) === 0) report(`${path}.duration`, 'a window of zero length is never open');
}

function isZero(q: number | string): boolean {
  return typeof q === 'number' ? q === 0 : Number(q.slice(0, -1)) === 0;
}

function invalid(file: string, problems: SpecProblem[]): DroverError {
  const first = problems[0];
  const where = first ? `${first.file}:${first.line}:${first.column}: ${first.message}` : file;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return new DroverError('ROLLOUT_SPEC_INVALID', `invalid rollout spec ${where}${more}`, {
    hint: first?.hint ?? 'Fix the listed problems; docs/rollout.md describes every field.',
    details: { problems },
  });
}
