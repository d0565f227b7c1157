import { generateKeyPairSync } from 'node:crypto';
import type { ImageRecord } from '@drover/core';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { describe, expect, it } from 'vitest';
import { IN_TOTO_PAYLOAD_TYPE, preAuthEncoding } from './bundle.js';
import { publicKeyHint } from './keys.js';
import {
  attestProvenance,
  buildProvenance,
  DROVER_BUILD_TYPE,
  LOCAL_BUILDER_ID,
  SLSA_PROVENANCE_V1,
} from './provenance.js';
import { keySigner } from './signer.js';

const hex = (c: string) => c.repeat(64);
const record: ImageRecord = {
  schemaVersion: 1,
  name: 'edge',
  version: '1.2.0',
  variant: 'k8s',
  arch: 'x86_64',
  recipeDigest: `sha256:${hex('a')}`,
  lockDigest: `sha256:${hex('b')}`,
  baseImages: [{ ref: 'docker.io/library/debian:12', digest: `sha256:${hex('c')}`, platform: 'linux/amd64' }],
  artifacts: [
    {
      name: 'disk',
      path: 'edge-1.2.0.img',
      digest: `sha256:${hex('d')}`,
      size: 10,
      mediaType: 'application/octet-stream',
    },
    {
      name: 'root-verity',
      path: 'root.verity',
      digest: `sha256:${hex('e')}`,
      size: 5,
      mediaType: 'application/octet-stream',
    },
  ],
  sbom: { path: 'sbom.spdx.json', digest: `sha256:${hex('f')}`, format: 'spdx-2.3' },
  builder: { name: 'drover', version: '0.1.0' },
  created: '2026-01-01T00:00:00Z',
};

const GITHUB_ENV = {
  GITHUB_ACTIONS: 'true',
  GITHUB_SERVER_URL: 'https://github.com',
  GITHUB_REPOSITORY: 'acme/os',
  GITHUB_WORKFLOW_REF: 'acme/os/.github/workflows/release.yml@refs/heads/main',
  GITHUB_RUN_ID: '42',
  GITHUB_RUN_ATTEMPT: '2',
  GITHUB_REF: 'refs/heads/main',
  GITHUB_SHA: 'deadbeef',
  GITHUB_EVENT_NAME: 'push',
};

describe('DSSE PAE', () => {
  it('encodes as "DSSEv1 len type len body" with byte lengths', () => {
    expect(preAuthEncoding('application/x', Buffer.from('héllo')).toString()).toBe(
      'DSSEv1 13 application/x 6 héllo',
    );
  });
});

describe('buildProvenance', () => {
  it('maps the image record to subjects, external parameters and resolved dependencies', () => {
    const s = buildProvenance({ record });
    expect(s._type).toBe('https://in-toto.io/Statement/v1');
    expect(s.predicateType).toBe(SLSA_PROVENANCE_V1);
    expect(s.subject).toEqual([
      { name: 'edge-1.2.0.img', digest: { sha256: hex('d') } },
      { name: 'root.verity', digest: { sha256: hex('e') } },
    ]);
    const bd = s.predicate.buildDefinition;
    expect(bd.buildType).toBe(DROVER_BUILD_TYPE);
    expect(bd.externalParameters).toEqual({
      image: { name: 'edge', version: '1.2.0', variant: 'k8s', arch: 'x86_64' },
      recipe: { digest: { sha256: hex('a') } },
      lock: { digest: { sha256: hex('b') } },
    });
    expect(bd.resolvedDependencies).toEqual([
      {
        uri: 'oci://docker.io/library/debian:12',
        digest: { sha256: hex('c') },
        annotations: { platform: 'linux/amd64' },
      },
    ]);
    expect(s.predicate.runDetails.builder.id).toBe(LOCAL_BUILDER_ID);
    expect(s.predicate.runDetails.byproducts).toEqual([
      { name: 'sbom.spdx.json', digest: { sha256: hex('f') } },
    ]);
  });

  it('takes builder id and run details from the GitHub Actions environment', () => {
    const s = buildProvenance({ record, env: GITHUB_ENV });
    expect(s.predicate.runDetails.builder.id).toBe(
      'https://github.com/acme/os/.github/workflows/release.yml@refs/heads/main',
    );
    expect(s.predicate.runDetails.metadata.invocationId).toBe(
      'https://github.com/acme/os/actions/runs/42/attempts/2',
    );
    expect(s.predicate.buildDefinition.externalParameters.workflow).toEqual({
      ref: 'refs/heads/main',
      repository: 'https://github.com/acme/os',
      path: '.github/workflows/release.yml',
    });
    expect(s.predicate.buildDefinition.internalParameters.github).toMatchObject({
      sha: 'deadbeef',
      event_name: 'push',
    });
  });

  it('rejects a record without artifacts or with a bad digest', () => {
    expect(() => buildProvenance({ record: { ...record, artifacts: [] } })).toThrow(
      expect.objectContaining({ code: 'PROVENANCE_NO_SUBJECTS' }),
    );
    expect(() => buildProvenance({ record: { ...record, lockDigest: 'sha256:xyz' as never } })).toThrow(
      expect.objectContaining({ code: 'PROVENANCE_DIGEST_INVALID' }),
    );
  });

  it('signs it as a DSSE envelope in a v0.3 bundle that @sigstore/verify accepts', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const att = await attestProvenance({ record, signer: keySigner({ privateKey }), env: GITHUB_ENV });
    expect(att.bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(att.bundle.dsseEnvelope?.payloadType).toBe(IN_TOTO_PAYLOAD_TYPE);
    expect(JSON.parse(Buffer.from(att.bundle.dsseEnvelope?.payload ?? '', 'base64').toString())).toEqual(
      att.statement,
    );
    const hint = publicKeyHint(publicKey);
    const tm = toTrustMaterial(
      { mediaType: '', tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] } as never,
      { [hint]: { rawBytes: publicKey.export({ type: 'spki', format: 'der' }), keyDetails: 5 } as never },
    );
    const verifier = new Verifier(tm, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
    expect(() => verifier.verify(toSignedEntity(bundleFromJSON(att.bundle)))).not.toThrow();
    const tamperedBundle = JSON.parse(JSON.stringify(att.bundle));
    tamperedBundle.dsseEnvelope.payload = Buffer.from('{"x":1}').toString('base64');
    expect(() => verifier.verify(toSignedEntity(bundleFromJSON(tamperedBundle)))).toThrow();
  });
});
