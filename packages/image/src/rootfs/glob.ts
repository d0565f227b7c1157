/**
 * Compile an `exclude` glob to a matcher over `/`-separated relative paths.
 *
 * - `*` matches any characters except `/`, `?` one such character, `[abc]`/`[!a-z]` a class, `**` any number of
 *   whole path segments (`a/**` matches everything under `a`, `**\/x` an `x` at any depth).
 * - A pattern without a `/` matches a name at any depth (like `.gitignore`): `*.md` excludes `docs/a.md`.
 * - A leading `/` or `./` anchors the pattern at the source's top; a trailing `/` is ignored (directories
 *   matched by a pattern are excluded with everything below them).
 */
export function compileGlob(pattern: string): (path: string) => boolean {
  let p = pattern.trim();
  let anchored = false;
  if (p.startsWith('./')) {
    p = p.slice(2);
    anchored = true;
  } else if (p.startsWith('/')) {
    p = p.slice(1);
    anchored = true;
  }
  while (p.endsWith('/') && p.length > 1) p = p.slice(0, -1);
  if (!anchored && !p.includes('/')) p = `**/${p}`;
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') {
      if (p[i + 1] === '*') {
        const atStart = i === 0 || p[i - 1] === '/';
        const atEnd = i + 2 === p.length || p[i + 2] === '/';
        if (atStart && atEnd) {
          if (i + 2 === p.length) re += '.*';
          else {
            re += '(?:.*/)?';
            i++; // the slash after **
          }
          i++;
          continue;
        }
        re += '[^/]*';
        i++;
        continue;
      }
      re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = p.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let body = p.slice(i + 1, end);
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  const regex = new RegExp(`^${re}$`, 'u');
  return (path) => regex.test(path);
}
