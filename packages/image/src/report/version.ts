// Debian version ordering (deb-version(7)): [epoch:]upstream[-revision], compared part by part; in each part,
// non-digit runs compare with letters before non-letters and `~` before everything (even the end), digit runs
// numerically.

function order(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

function comparePart(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    // Non-digit prefix.
    while ((i < a.length && !/[0-9]/.test(a[i]!)) || (j < b.length && !/[0-9]/.test(b[j]!))) {
      const ca = i < a.length && !/[0-9]/.test(a[i]!) ? a[i] : undefined;
      const cb = j < b.length && !/[0-9]/.test(b[j]!) ? b[j] : undefined;
      const d = order(ca) - order(cb);
      if (d !== 0) return d < 0 ? -1 : 1;
      if (ca !== undefined) i++;
      if (cb !== undefined) j++;
    }
    // Digit run.
    let na = '';
    let nb = '';
    while (i < a.length && /[0-9]/.test(a[i]!)) na += a[i++];
    while (j < b.length && /[0-9]/.test(b[j]!)) nb += b[j++];
    const x = BigInt(na || '0');
    const y = BigInt(nb || '0');
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function split(v: string): [bigint, string, string] {
  const colon = v.indexOf(':');
  const epochText = colon > 0 && /^[0-9]+$/.test(v.slice(0, colon)) ? v.slice(0, colon) : '';
  const rest = epochText ? v.slice(colon + 1) : v;
  const dash = rest.lastIndexOf('-');
  return [
    BigInt(epochText || '0'),
    dash >= 0 ? rest.slice(0, dash) : rest,
    dash >= 0 ? rest.slice(dash + 1) : '',
  ];
}

/** Compare two Debian package versions: negative, 0 or positive, as `dpkg --compare-versions` orders them. */
export function compareDebianVersions(a: string, b: string): number {
  const [ea, ua, ra] = split(a);
  const [eb, ub, rb] = split(b);
  if (ea !== eb) return ea < eb ? -1 : 1;
  return comparePart(ua, ub) || comparePart(ra, rb);
}
