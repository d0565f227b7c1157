/** The `schemaVersion` of the `image.json` records drover writes. */
export const IMAGE_RECORD_SCHEMA_VERSION = 1 as const;

const digest = { type: 'string', pattern: '^sha(256|512):[0-9a-f]+$' } as const;
const guid = {
  type: 'string',
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
} as const;
const count = { type: 'integer', minimum: 0 } as const;

/** JSON Schema (draft 2020-12) of `image.json`, schema version 1 (see docs/image-record.md). */
export const imageRecordJsonSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://drover.dev/schemas/image-record.v1.json',
  title: 'drover image record',
  type: 'object',
  required: ['schemaVersion', 'name', 'version', 'artifacts'],
  additionalProperties: false,
  properties: {
    schemaVersion: { const: 1 },
    name: { type: 'string', minLength: 1 },
    version: { type: 'string', minLength: 1 },
    variant: { type: 'string' },
    arch: { type: 'string' },
    recipeDigest: digest,
    lockDigest: digest,
    baseImages: {
      type: 'array',
      items: {
        type: 'object',
        required: ['ref', 'digest'],
        additionalProperties: false,
        properties: { ref: { type: 'string' }, digest, platform: { type: 'string' } },
      },
    },
    filesystem: {
      type: 'object',
      required: ['type', 'size'],
      additionalProperties: false,
      properties: { type: { enum: ['erofs', 'squashfs', 'ext4'] }, size: count, digest },
    },
    verity: {
      type: 'object',
      required: ['hashType', 'algorithm', 'dataBlockSize', 'hashBlockSize', 'dataBlocks', 'salt', 'rootHash'],
      additionalProperties: false,
      properties: {
        hashType: { enum: [0, 1] },
        algorithm: { type: 'string' },
        dataBlockSize: count,
        hashBlockSize: count,
        dataBlocks: count,
        salt: { type: 'string', pattern: '^(-|([0-9a-f]{2})*)$' },
        rootHash: { type: 'string', pattern: '^[0-9a-f]+$' },
        hashOffset: count,
        superblock: { type: 'boolean' },
        fecRoots: { type: 'integer', minimum: 2, maximum: 24 },
        fecOffset: count,
        fecBlocks: count,
        uuid: guid,
      },
    },
    partitions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['number', 'label', 'typeGuid', 'uuid', 'offset', 'size'],
        additionalProperties: false,
        properties: {
          number: { type: 'integer', minimum: 1, maximum: 128 },
          label: { type: 'string' },
          typeGuid: guid,
          uuid: guid,
          offset: count,
          size: count,
          attributes: { type: 'string', pattern: '^[0-9]+$' },
          digest,
        },
      },
    },
    artifacts: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'path', 'digest', 'size', 'mediaType'],
        additionalProperties: false,
        properties: {
          name: { type: 'string' },
          path: { type: 'string', not: { pattern: '^/|(^|/)\\.\\.(/|$)' } },
          digest,
          size: count,
          mediaType: { type: 'string' },
        },
      },
    },
    kernelArguments: { type: 'array', items: { type: 'string' } },
    sbom: {
      type: 'object',
      required: ['path', 'digest', 'format'],
      additionalProperties: false,
      properties: { path: { type: 'string' }, digest, format: { const: 'spdx-2.3' } },
    },
    builder: {
      type: 'object',
      required: ['name', 'version'],
      additionalProperties: false,
      properties: { name: { const: 'drover' }, version: { type: 'string' } },
    },
    created: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$' },
  },
} as const;
