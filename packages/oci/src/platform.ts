import { DroverError } from '@drover/core';
import type { Descriptor, Platform } from './media-types.js';

const ARCH_ALIASES: Record<string, [string, string?]> = {
  x86_64: ['amd64'],
  'x86-64': ['amd64'],
  aarch64: ['arm64'],
  armhf: ['arm', 'v7'],
  armel: ['arm', 'v6'],
  i386: ['386'],
  i686: ['386'],
};

/** Normalise a platform the way containerd does (x86_64→amd64, aarch64→arm64, arm64/v8→arm64, arm→arm/v7). */
export function normalizePlatform(platform: Platform): Platform {
  const os = platform.os.toLowerCase();
  let architecture = platform.architecture.toLowerCase();
  let variant = platform.variant?.toLowerCase();
  const alias = ARCH_ALIASES[architecture];
  if (alias) {
    architecture = alias[0];
    if (alias[1] && !variant) variant = alias[1];
  }
  if (architecture === 'arm64' && variant === 'v8') variant = undefined;
  if (architecture === 'amd64' && variant === 'v1') variant = undefined;
  if (architecture === 'arm' && !variant) variant = 'v7';
  const out: Platform = { os, architecture };
  if (variant) out.variant = variant;
  if (platform['os.version']) out['os.version'] = platform['os.version'];
  if (platform['os.features']) out['os.features'] = platform['os.features'];
  return out;
}

/** Parse `os/arch[/variant]` (e.g. `linux/arm64/v8`); throws `OCI_PLATFORM_INVALID`. */
export function parsePlatform(value: string): Platform {
  const parts = value.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new DroverError('OCI_PLATFORM_INVALID', `not a platform: ${JSON.stringify(value)}`, {
      kind: 'usage',
      hint: 'Write a platform as os/architecture[/variant], e.g. linux/amd64 or linux/arm/v7.',
    });
  }
  const [os, architecture, variant] = parts as [string, string, string?];
  return normalizePlatform(variant ? { os, architecture, variant } : { os, architecture });
}

/** Format a platform as `os/arch[/variant]`. */
export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** The platform of this machine (linux/amd64 on x64 and so on). */
export function hostPlatform(): Platform {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'ia32' ? '386' : process.arch;
  return normalizePlatform({
    os: process.platform === 'win32' ? 'windows' : process.platform,
    architecture: arch,
  });
}

/** True when a descriptor's platform satisfies `wanted` (os, architecture, then variant and os.version when asked). */
export function platformMatches(candidate: Platform | undefined, wanted: Platform): boolean {
  if (!candidate) return false;
  const c = normalizePlatform(candidate);
  const w = normalizePlatform(wanted);
  if (c.os !== w.os || c.architecture !== w.architecture) return false;
  if ((c.variant ?? '') !== (w.variant ?? '')) return false;
  if (w['os.version'] && c['os.version'] !== w['os.version']) return false;
  if (w['os.features'] && !w['os.features'].every((f) => c['os.features']?.includes(f))) return false;
  return true;
}

/** Pick the first index entry that matches `wanted`; throws `OCI_PLATFORM_NOT_FOUND` listing what exists. */
export function selectPlatform(manifests: readonly Descriptor[], wanted: Platform): Descriptor {
  // An exact match (as written, e.g. arm64 without variant) beats one that only matches after normalising.
  const exact = manifests.find(
    (m) =>
      m.platform?.os === wanted.os &&
      m.platform.architecture === wanted.architecture &&
      (m.platform.variant ?? '') === (wanted.variant ?? ''),
  );
  const found = exact ?? manifests.find((m) => platformMatches(m.platform, wanted));
  if (found) return found;
  const available = manifests.filter((m) => m.platform).map((m) => formatPlatform(m.platform!));
  throw new DroverError('OCI_PLATFORM_NOT_FOUND', `the index has no manifest for ${formatPlatform(wanted)}`, {
    kind: 'not-found',
    hint: available.length
      ? `Available: ${available.join(', ')}; pass one with --platform.`
      : 'The index lists no platforms.',
    details: { wanted: formatPlatform(wanted), available },
  });
}
