import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../test/helpers.js';
import { parseBundle, preAuthEncoding, serializeBundle, signArtifact } from './bundle.js';
import { parsePolicy } from './policy.js';
import { keySigner } from './signer.js';
import { verifyArtifact } from './verify.js';

const tempDir = useTempDir();

describe('formats (property-based)', () => {
  it('PAE: the length fields give back the type and the body, for any type and bytes', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.uint8Array({ maxLength: 200 }),
        (type, body) => {
          const pae = preAuthEncoding(type, body);
          const typeBytes = Buffer.from(type);
          const head = `DSSEv1 ${typeBytes.length} `;
          expect(pae.subarray(0, head.length).toString()).toBe(head);
          expect(pae.subarray(head.length, head.length + typeBytes.length).equals(typeBytes)).toBe(true);
          const rest = pae.subarray(head.length + typeBytes.length).toString('latin1');
          const m = /^ (\d+) /.exec(rest);
          expect(Number(m?.[1])).toBe(body.length);
          expect(pae.subarray(pae.length - body.length).equals(Buffer.from(body))).toBe(true);
        },
      ),
    );
  });

  it('sign → serialize → parse → verify holds for any content; changing any byte is ARTIFACT_TAMPERED', async () => {
    const dir = await tempDir();
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const signer = keySigner({ privateKey });
    const policy = await parsePolicy({
      document: { version: 1, keys: [{ publicKey: publicKey.export({ type: 'spki', format: 'pem' }) }] },
    });
    const file = join(dir, 'f');
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 5000 }), fc.nat(), async (data, at) => {
        await writeFile(file, data);
        const signed = await signArtifact({ file, signer });
        const bundle = serializeBundle(parseBundle(JSON.parse(JSON.stringify(signed.bundle))));
        expect(bundle).toEqual(signed.bundle);
        await expect(verifyArtifact({ artifact: file, bundle, policy })).resolves.toMatchObject({
          verified: true,
        });
        const changed = Buffer.from(data);
        const i = at % changed.length;
        changed[i] = (changed[i] as number) ^ 0x01;
        await writeFile(file, changed);
        await expect(verifyArtifact({ artifact: file, bundle, policy })).rejects.toMatchObject({
          code: 'ARTIFACT_TAMPERED',
        });
      }),
      { numRuns: 25 },
    );
  });
});
