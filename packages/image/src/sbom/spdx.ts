import { createHash } from 'node:crypto';
import { DroverError } from '@drover/core';
import type { FileEntry, FileManifest } from './files.js';
import type { PackageInfo } from './packages.js';

/** Options for {@link generateSbom}. */
export interface GenerateSbomOptions {
  /** Image name and version (the SPDX document name and the described package). */
  name: string;
  version: string;
  files: FileManifest;
  packages: readonly PackageInfo[];
  /** RFC 3339 creation time, from sourceDateEpoch (reproducible). */
  created: string;
  /** Tool string, `drover-<version>`. */
  creator: string;
  /** Stable input for the document namespace (e.g. the filesystem digest), so the same image gives the same SBOM. */
  namespaceSeed: string;
  /** Notes for the reader (e.g. package databases that were not read); they go into the document comment. */
  warnings?: readonly string[];
}

/** An SPDX 2.3 JSON document (kept loose: the SPDX JSON schema is the contract). */
export type SpdxDocument = Record<string, unknown> & { spdxVersion: 'SPDX-2.3' };

/** The media type of `sbom.spdx.json` in an image record. */
export const SPDX_MEDIA_TYPE = 'application/spdx+json';

/** The SPDX id of the package that stands for the image itself. */
export const IMAGE_SPDX_ID = 'SPDXRef-Image';

const hex = (algo: 'sha1' | 'sha256', text: string): string => createHash(algo).update(text).digest('hex');

/** `SPDXRef-` ids allow letters, digits, `.` and `-` only. */
function idPart(text: string): string {
  return text.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '') || 'x';
}

/** Stable id of a file: the same path gets the same id in every image (so diffs of SBOMs stay small). */
export function spdxFileId(path: string): string {
  return `SPDXRef-File-${hex('sha256', path).slice(0, 20)}`;
}

/** Stable id of an OS package. */
export function spdxPackageId(pkg: PackageInfo): string {
  return `SPDXRef-Package-${pkg.type}-${idPart(pkg.name)}-${hex('sha256', pkg.purl).slice(0, 12)}`;
}

/** A normalized `YYYY-MM-DDTHH:MM:SSZ` (the SPDX schema allows no fractions or offsets). */
function spdxDate(created: string): string {
  const ms = Date.parse(created);
  if (Number.isNaN(ms)) {
    throw new DroverError('SBOM_BAD_DATE', `creation time ${JSON.stringify(created)} is not a date`, {
      kind: 'input',
      hint: 'Pass an RFC 3339 time derived from sourceDateEpoch, e.g. 2023-11-14T22:13:20Z.',
    });
  }
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

const SIMPLE_LICENSE = /^\(?[A-Za-z0-9.+-]+\)?(\s+(AND|OR|WITH)\s+\(?[A-Za-z0-9.+-]+\)?)*$/;

function fileType(path: string): string[] {
  if (/\/(usr\/)?(s?bin|libexec)\//.test(path)) return ['BINARY'];
  if (/\.so(\.[0-9.]+)?$/.test(path)) return ['BINARY'];
  if (/\/(usr\/share\/)?(doc|man|info)\//.test(path)) return ['DOCUMENTATION'];
  if (/\.(txt|md|conf|list|json|ya?ml|cfg|ini)$/.test(path) || path.startsWith('/etc/')) return ['TEXT'];
  return ['OTHER'];
}

function spdxFile(entry: FileEntry): Record<string, unknown> {
  return {
    SPDXID: spdxFileId(entry.path),
    fileName: `.${entry.path}`,
    fileTypes: fileType(entry.path),
    checksums: [
      { algorithm: 'SHA1', checksumValue: entry.sha1! },
      { algorithm: 'SHA256', checksumValue: entry.sha256!.slice('sha256:'.length) },
    ],
    licenseConcluded: 'NOASSERTION',
    copyrightText: 'NOASSERTION',
  };
}

function spdxPackage(pkg: PackageInfo): Record<string, unknown> {
  const license = pkg.license && SIMPLE_LICENSE.test(pkg.license) ? pkg.license : 'NOASSERTION';
  const out: Record<string, unknown> = {
    SPDXID: spdxPackageId(pkg),
    name: pkg.name,
    versionInfo: pkg.version,
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    licenseConcluded: 'NOASSERTION',
    licenseDeclared: license,
    copyrightText: 'NOASSERTION',
    externalRefs: [
      { referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: pkg.purl },
    ],
  };
  if (pkg.license && license === 'NOASSERTION') out.licenseComments = `package database says: ${pkg.license}`;
  if (pkg.source) out.sourceInfo = `built package from: ${pkg.source}`;
  if (pkg.arch) out.comment = `${pkg.type} package, architecture ${pkg.arch}`;
  return out;
}

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Build a deterministic SPDX 2.3 document: the image package, its files with digests, and OS packages. */
export function generateSbom(options: GenerateSbomOptions): SpdxDocument {
  const { name, version, files, packages } = options;
  // Regular files only: SPDX files carry checksums. Every name of a hardlinked file is listed.
  const regular = files.files
    .filter((f) => f.type === 'file' && f.sha1 && f.sha256)
    .sort((a, b) => byBytes(a.path, b.path));
  const fileIds = new Set(regular.map((f) => f.path));

  // Package verification code (SPDX 2.3 §7.9): SHA1 over the sorted SHA1s of the package's files.
  const verification = hex(
    'sha1',
    regular
      .map((f) => f.sha1!)
      .sort()
      .join(''),
  );

  const osPackages = [...packages].sort(
    (a, b) => byBytes(a.type, b.type) || byBytes(a.name, b.name) || byBytes(a.purl, b.purl),
  );
  const seen = new Set<string>();
  for (const p of osPackages) {
    const id = spdxPackageId(p);
    if (seen.has(id)) {
      throw new DroverError('SBOM_DUPLICATE_PACKAGE', `package ${p.purl} is listed twice`, {
        kind: 'internal',
        hint: 'findPackages returns each package once; pass its result unchanged.',
      });
    }
    seen.add(id);
  }

  const relationships: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[] = [
    { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: IMAGE_SPDX_ID },
  ];
  for (const p of osPackages) {
    relationships.push({
      spdxElementId: IMAGE_SPDX_ID,
      relationshipType: 'CONTAINS',
      relatedSpdxElement: spdxPackageId(p),
    });
  }
  for (const p of osPackages) {
    for (const path of p.files ?? []) {
      if (!fileIds.has(path)) continue; // directories, symlinks, files removed by later layers
      relationships.push({
        spdxElementId: spdxPackageId(p),
        relationshipType: 'CONTAINS',
        relatedSpdxElement: spdxFileId(path),
      });
    }
  }

  const seed = hex('sha256', `${name}\0${version}\0${options.namespaceSeed}`);
  const doc: SpdxDocument = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${name}-${version}`,
    documentNamespace: `https://drover.dev/spdx/${encodeURIComponent(name)}-${encodeURIComponent(version)}-${seed}`,
    creationInfo: {
      created: spdxDate(options.created),
      creators: [`Tool: ${options.creator}`],
      ...(options.warnings?.length ? { comment: options.warnings.join('\n') } : {}),
    },
    documentDescribes: [IMAGE_SPDX_ID],
    packages: [
      {
        SPDXID: IMAGE_SPDX_ID,
        name,
        versionInfo: version,
        downloadLocation: 'NOASSERTION',
        primaryPackagePurpose: 'OPERATING_SYSTEM',
        filesAnalyzed: true,
        packageVerificationCode: { packageVerificationCodeValue: verification },
        licenseConcluded: 'NOASSERTION',
        licenseDeclared: 'NOASSERTION',
        licenseInfoFromFiles: ['NOASSERTION'],
        copyrightText: 'NOASSERTION',
        hasFiles: regular.map((f) => spdxFileId(f.path)),
      },
      ...osPackages.map(spdxPackage),
    ],
    files: regular.map(spdxFile),
    relationships,
  };
  return doc;
}

/** Packages and versions recorded in an SBOM written by {@link generateSbom} (for diffs). */
export function sbomPackages(
  doc: Record<string, unknown>,
): { name: string; version: string; purl?: string }[] {
  const list = Array.isArray(doc.packages) ? (doc.packages as Record<string, unknown>[]) : [];
  const out: { name: string; version: string; purl?: string }[] = [];
  for (const p of list) {
    if (p.SPDXID === IMAGE_SPDX_ID) continue;
    const refs = Array.isArray(p.externalRefs) ? (p.externalRefs as Record<string, unknown>[]) : [];
    const purl = refs.find((r) => r.referenceType === 'purl')?.referenceLocator;
    out.push({
      name: String(p.name ?? ''),
      version: String(p.versionInfo ?? ''),
      ...(typeof purl === 'string' ? { purl } : {}),
    });
  }
  return out;
}
