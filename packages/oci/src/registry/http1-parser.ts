// An HTTP/1.1 response parser for the download workers, kept as source text: the workers run it from this string
// (so it works from `src` and from bundles alike), and the tests evaluate the same text. It hands body bytes to
// the caller as ranges of the buffer it was fed, never copying them, so a download can hash and write each socket
// read in place. It understands Content-Length, chunked transfer coding (extensions and trailers ignored) and
// bodies delimited by the connection closing; it skips 1xx interim responses.
//
// createResponseParser({ head(status, headers), body(buffer, start, end) }) returns
// { feed(buffer, start, end), eof(), get done(), get keepAlive() }; feed and eof throw an Error with a `code` on malformed input
// (HPE_*) and on a connection closed before the response ended (ECONNRESET).

/** Source text of `createResponseParser`, a plain-JavaScript function declaration. */
export const RESPONSE_PARSER_SOURCE = String.raw`
function createResponseParser(on) {
  const HEAD = 0, LENGTH = 1, CHUNK_SIZE = 2, CHUNK_DATA = 3, CHUNK_END = 4, TRAILERS = 5, UNTIL_EOF = 6, DONE = 7;
  const MAX_HEAD = 64 << 10;
  const MAX_LINE = 8 << 10;
  let state = HEAD;
  let head = Buffer.alloc(0);
  let left = 0;
  let line = '';
  let keepAlive = true;
  const problem = (code, message) => Object.assign(new Error(message), { code });
  const finish = () => {
    state = DONE;
  };
  const parseHead = (text) => {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0]);
    if (!m) throw problem('HPE_INVALID_STATUS', 'malformed HTTP status line');
    const status = Number(m[2]);
    const headers = Object.create(null);
    for (let i = 1; i < lines.length; i++) {
      const l = lines[i];
      if (l === '') continue;
      const colon = l.indexOf(':');
      if (colon <= 0 || /[\s]/.test(l[0])) throw problem('HPE_INVALID_HEADER_TOKEN', 'malformed HTTP header line');
      const name = l.slice(0, colon).toLowerCase();
      if (!/^[!#$%&'*+.^_|~0-9a-z-]+$/.test(name)) throw problem('HPE_INVALID_HEADER_TOKEN', 'malformed HTTP header name');
      const value = l.slice(colon + 1).trim();
      headers[name] = name in headers ? headers[name] + ', ' + value : value;
    }
    return { minor: Number(m[1]), status, headers };
  };
  const startBody = (minor, status, headers) => {
    const connection = String(headers.connection || '').toLowerCase();
    keepAlive = minor === 1 ? !/(^|,)\s*close\s*(,|$)/.test(connection) : /(^|,)\s*keep-alive\s*(,|$)/.test(connection);
    if (status === 204 || status === 304) return finish();
    const te = headers['transfer-encoding'];
    if (te !== undefined) {
      const codings = String(te).toLowerCase().split(',').map((s) => s.trim());
      if (codings[codings.length - 1] === 'chunked') {
        state = CHUNK_SIZE;
        line = '';
      } else {
        state = UNTIL_EOF;
        keepAlive = false;
      }
      return;
    }
    const cl = headers['content-length'];
    if (cl !== undefined) {
      const values = String(cl).split(',').map((s) => s.trim());
      if (!values.every((v) => /^\d{1,15}$/.test(v) && v === values[0]))
        throw problem('HPE_INVALID_CONTENT_LENGTH', 'malformed Content-Length');
      left = Number(values[0]);
      if (left === 0) return finish();
      state = LENGTH;
      return;
    }
    state = UNTIL_EOF;
    keepAlive = false;
  };
  // Reads a CRLF-terminated line from buffer[i, end); returns the index after it, or -1 (line kept for the next feed).
  const readLine = (buffer, i, end) => {
    let nl = buffer.indexOf(10, i);
    if (nl >= end) nl = -1;
    const stop = nl < 0 ? end : nl;
    line += buffer.latin1Slice(i, stop);
    if (line.length > MAX_LINE) throw problem('HPE_CHUNK_EXTENSIONS_OVERFLOW', 'HTTP chunk line too long');
    return nl < 0 ? -1 : nl + 1;
  };
  const takeLine = () => {
    const l = line.endsWith('\r') ? line.slice(0, -1) : line;
    line = '';
    return l;
  };
  return {
    /** The response ended (check after every feed and eof). */
    get done() {
      return state === DONE;
    },
    /** The connection may carry another request (HTTP keep-alive, and nothing came after the response). */
    get keepAlive() {
      return keepAlive;
    },
    feed(buffer, start, end) {
      let i = start;
      while (i < end) {
        switch (state) {
          case HEAD: {
            const before = head.length;
            head = Buffer.concat([head, buffer.subarray(i, end)]);
            const at = head.indexOf('\r\n\r\n', Math.max(0, before - 3), 'latin1');
            if (at < 0) {
              if (head.length > MAX_HEAD) throw problem('HPE_HEADER_OVERFLOW', 'HTTP response head too large');
              i = end;
              break;
            }
            i += at + 4 - before;
            const text = head.latin1Slice(0, at);
            head = Buffer.alloc(0);
            const { minor, status, headers } = parseHead(text);
            if (status >= 100 && status < 200 && status !== 101) break; // interim response: the real one follows
            on.head(status, headers);
            if (state === HEAD) startBody(minor, status, headers);
            break;
          }
          case LENGTH:
          case CHUNK_DATA: {
            const n = Math.min(left, end - i);
            on.body(buffer, i, i + n);
            i += n;
            left -= n;
            if (left === 0) {
              if (state === LENGTH) finish();
              else state = CHUNK_END;
            }
            break;
          }
          case CHUNK_SIZE: {
            const next = readLine(buffer, i, end);
            if (next < 0) return;
            i = next;
            const size = takeLine().split(';')[0].trim();
            if (!/^[0-9a-fA-F]{1,12}$/.test(size)) throw problem('HPE_INVALID_CHUNK_SIZE', 'malformed HTTP chunk size');
            left = parseInt(size, 16);
            state = left === 0 ? TRAILERS : CHUNK_DATA;
            break;
          }
          case CHUNK_END: {
            const next = readLine(buffer, i, end);
            if (next < 0) return;
            i = next;
            if (takeLine() !== '') throw problem('HPE_STRICT', 'missing CRLF after an HTTP chunk');
            state = CHUNK_SIZE;
            break;
          }
          case TRAILERS: {
            const next = readLine(buffer, i, end);
            if (next < 0) return;
            i = next;
            if (takeLine() === '') finish();
            break;
          }
          case UNTIL_EOF:
            on.body(buffer, i, end);
            i = end;
            break;
          default:
            // bytes after the response: the connection is not reusable
            keepAlive = false;
            return;
        }
      }
    },
    eof() {
      if (state === UNTIL_EOF) finish();
      else if (state !== DONE) throw problem('ECONNRESET', 'aborted');
    },
  };
}
`;
