import { writeFile } from 'node:fs/promises';
import {
  type Context,
  DroverError,
  type ImageRecord,
  parseDigest,
  resolveContext,
  writeAtomically,
} from '@drover/core';
import { IN_TOTO_STATEMENT_V1, type SerializedBundle, serializeBundle, signDsse } from './bundle.js';
import type { Signer } from './signer.js';

export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** The build type of drover image builds (what externalParameters mean). */
export const DROVER_BUILD_TYPE = 'https://drover.dev/buildtypes/image/v1';
/** Builder id used outside GitHub Actions unless one is given. */
export const LOCAL_BUILDER_ID = 'https://drover.dev/builders/local';

/** An in-toto ResourceDescriptor (subset drover writes). */
export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest: Record<string, string>;
  annotations?: Record<string, string>;
}

/** An in-toto Statement v1 with a SLSA provenance v1 predicate. */
export interface ProvenanceStatement {
  _type: typeof IN_TOTO_STATEMENT_V1;
  subject: ResourceDescriptor[];
  predicateType: typeof SLSA_PROVENANCE_V1;
  predicate: {
    buildDefinition: {
      buildType: string;
      externalParameters: Record<string, unknown>;
      internalParameters: Record<string, unknown>;
      resolvedDependencies: ResourceDescriptor[];
    };
    runDetails: {
      builder: { id: string; version?: Record<string, string> };
      metadata: { invocationId?: string; startedOn?: string; finishedOn?: string };
      byproducts: ResourceDescriptor[];
    };
  };
}

export interface BuildProvenanceOptions {
  record: ImageRecord;
  /** Environment to read GitHub Actions variables from; defaults to none (pass process.env from the CLI). */
  env?: Record<string, string | undefined>;
  /** Builder id when not in GitHub Actions. */
  builderId?: string;
  /** RFC 3339 finish time (defaults to none: provenance stays reproducible). */
  finishedOn?: string;
}

/** Build the in-toto/SLSA provenance statement for an image record (pure). */
export function buildProvenance(options: BuildProvenanceOptions): ProvenanceStatement {
  const { record } = options;
  const env = options.env ?? {};
  if (!Array.isArray(record.artifacts) || record.artifacts.length === 0) {
    throw new DroverError(
      'PROVENANCE_NO_SUBJECTS',
      `image record ${record.name}@${record.version} lists no artifacts`,
      {
        hint: 'Provenance needs the built artifacts with their digests; pass the image.json written by `drover build`.',
      },
    );
  }
  const subject = record.artifacts.map((a) => ({
    name: a.path,
    digest: digestMap(a.digest, `artifact ${a.name}`),
  }));
  const externalParameters: Record<string, unknown> = {
    image: { name: record.name, version: record.version },
  };
  if (record.variant) (externalParameters.image as Record<string, unknown>).variant = record.variant;
  if (record.arch) (externalParameters.image as Record<string, unknown>).arch = record.arch;
  if (record.recipeDigest) externalParameters.recipe = { digest: digestMap(record.recipeDigest, 'recipe') };
  if (record.lockDigest) externalParameters.lock = { digest: digestMap(record.lockDigest, 'lock') };
  const internalParameters: Record<string, unknown> = {};
  if (record.builder) internalParameters.drover = { version: record.builder.version };
  const resolvedDependencies: ResourceDescriptor[] = (record.baseImages ?? []).map((b) => ({
    uri: b.ref.includes('://') ? b.ref : `oci://${b.ref}`,
    digest: digestMap(b.digest, `base image ${b.ref}`),
    ...(b.platform ? { annotations: { platform: b.platform } } : {}),
  }));

  const github = env.GITHUB_ACTIONS === 'true';
  const server = env.GITHUB_SERVER_URL ?? 'https://github.com';
  let builderId = options.builderId ?? LOCAL_BUILDER_ID;
  const metadata: ProvenanceStatement['predicate']['runDetails']['metadata'] = {};
  if (github) {
    if (env.GITHUB_WORKFLOW_REF) builderId = `${server}/${env.GITHUB_WORKFLOW_REF}`;
    if (env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID) {
      metadata.invocationId = `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}/attempts/${env.GITHUB_RUN_ATTEMPT ?? '1'}`;
    }
    externalParameters.workflow = pruned({
      ref: env.GITHUB_REF,
      repository: env.GITHUB_REPOSITORY ? `${server}/${env.GITHUB_REPOSITORY}` : undefined,
      path: env.GITHUB_WORKFLOW_REF?.split('@')[0]?.split('/').slice(2).join('/'),
    });
    internalParameters.github = pruned({
      event_name: env.GITHUB_EVENT_NAME,
      repository_id: env.GITHUB_REPOSITORY_ID,
      repository_owner_id: env.GITHUB_REPOSITORY_OWNER_ID,
      runner_environment: env.RUNNER_ENVIRONMENT,
      sha: env.GITHUB_SHA,
    });
  }
  if (record.created) metadata.startedOn = record.created;
  if (options.finishedOn) metadata.finishedOn = options.finishedOn;
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject,
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: DROVER_BUILD_TYPE,
        externalParameters,
        internalParameters,
        resolvedDependencies,
      },
      runDetails: {
        builder: {
          id: builderId,
          ...(record.builder ? { version: { drover: record.builder.version } } : {}),
        },
        metadata,
        byproducts: record.sbom
          ? [{ name: record.sbom.path, digest: digestMap(record.sbom.digest, 'sbom') }]
          : [],
      },
    },
  };
}

export interface AttestProvenanceOptions extends BuildProvenanceOptions {
  signer: Signer;
  bundlePath?: string;
}

export interface AttestProvenanceResult {
  statement: ProvenanceStatement;
  bundle: SerializedBundle;
  bundlePath?: string;
  keyHint: string;
}

/** Build the provenance statement and sign it as a DSSE envelope inside a Sigstore v0.3 bundle. */
export async function attestProvenance(
  options: AttestProvenanceOptions,
  ctx: Context = {},
): Promise<AttestProvenanceResult> {
  const { logger } = resolveContext(ctx);
  const statement = buildProvenance(options);
  const { bundle, signature } = await signDsse({
    payload: Buffer.from(JSON.stringify(statement)),
    signer: options.signer,
  });
  const json = serializeBundle(bundle);
  if (options.bundlePath) {
    const path = options.bundlePath;
    await writeAtomically(path, (tmp) => writeFile(tmp, `${JSON.stringify(json, null, 2)}\n`));
  }
  logger.info(`attested provenance for ${options.record.name}@${options.record.version}`, {
    subjects: statement.subject.length,
  });
  return {
    statement,
    bundle: json,
    keyHint: signature.keyHint,
    ...(options.bundlePath ? { bundlePath: options.bundlePath } : {}),
  };
}

function digestMap(value: string, what: string): Record<string, string> {
  try {
    const d = parseDigest(value);
    return { [d.algorithm]: d.hex };
  } catch (error) {
    throw new DroverError(
      'PROVENANCE_DIGEST_INVALID',
      `${what} has an invalid digest ${JSON.stringify(value)}`,
      {
        hint: 'Rebuild the image record; digests look like sha256:<64 hex>.',
        cause: error,
      },
    );
  }
}

function pruned(o: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(o).filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== ''),
  );
}
