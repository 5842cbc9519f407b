// Header fields to and from the wire: outgoing objects become a flat, validated list (pseudo-headers
// first); incoming lists are checked as RFC 9113 §8.2–8.3 require (a malformed message is a stream error
// PROTOCOL_ERROR) and become a plain object.
import { H2Error } from './errors.js';

/** Header fields as an object; a repeated field's values are joined with ", " ("; " for cookie). */
export type Headers = Record<string, string>;
export type OutgoingHeaders = Record<string, string | number | undefined>;

const CONNECTION_SPECIFIC = new Set(['connection', 'proxy-connection', 'keep-alive', 'transfer-encoding', 'upgrade']);
const REQUEST_PSEUDO = new Set([':method', ':scheme', ':authority', ':path']);
/** RFC 9110 token characters, lower case only (HTTP/2 field names are lower case). */
const NAME = /^:?[a-z0-9!#$%&'*+\-.^_`|~]+$/;
const BAD_VALUE = /[\0\r\n]|^[ \t]|[ \t]$/;

/** Flat [name, value, …] list for the encoder. Throws ERR_H2_INVALID_HEADERS. */
export function toFieldList(headers: OutgoingHeaders): string[] {
  const pseudo: string[] = [];
  const regular: string[] = [];
  for (const key of Object.keys(headers)) {
    const v = headers[key];
    if (v === undefined) continue;
    const name = key.toLowerCase();
    const value = String(v);
    if (!NAME.test(name)) throw new H2Error('ERR_H2_INVALID_HEADERS', `invalid header name ${JSON.stringify(key)}`);
    if (BAD_VALUE.test(value)) throw new H2Error('ERR_H2_INVALID_HEADERS', `invalid value for header ${name}`);
    if (CONNECTION_SPECIFIC.has(name)) throw new H2Error('ERR_H2_INVALID_HEADERS', `connection-specific header ${name} is not allowed in HTTP/2`);
    if (name.charCodeAt(0) === 58 /* : */) pseudo.push(name, value);
    else regular.push(name, value);
  }
  return pseudo.length ? pseudo.concat(regular) : regular;
}

export type MessageKind = 'request' | 'response' | 'trailers';

/** The decoded list as an object, or the reason it is malformed. */
export function toHeaders(fields: readonly string[], kind: MessageKind): Headers | string {
  const out: Headers = {};
  let regularSeen = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (!NAME.test(name)) return `invalid field name ${JSON.stringify(name)}`;
    if (BAD_VALUE.test(value)) return `invalid value for field ${name}`;
    if (name.charCodeAt(0) === 58) {
      if (regularSeen) return `pseudo-header ${name} after a regular field`;
      if (kind === 'trailers') return `pseudo-header ${name} in trailers`;
      const allowed = kind === 'request' ? REQUEST_PSEUDO.has(name) : name === ':status';
      if (!allowed) return `pseudo-header ${name} not allowed in a ${kind}`;
      if (out[name] !== undefined) return `duplicate ${name}`;
      out[name] = value;
      continue;
    }
    regularSeen = true;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name}`;
    if (name === 'te' && value !== 'trailers') return 'te other than "trailers"';
    const prev = out[name];
    out[name] = prev === undefined ? value : `${prev}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  if (kind === 'request') {
    const method = out[':method'];
    if (method === undefined) return 'request without :method';
    if (method === 'CONNECT') {
      // RFC 9113 §8.5: CONNECT names only the authority (no extended CONNECT: we never enable it).
      if (!out[':authority']) return 'CONNECT without :authority';
      if (out[':scheme'] !== undefined || out[':path'] !== undefined) return 'CONNECT with :scheme or :path';
    } else if (out[':scheme'] === undefined || !out[':path']) return 'request without :scheme or :path';
  } else if (kind === 'response') {
    const status = out[':status'];
    if (status === undefined || !/^[1-9][0-9][0-9]$/.test(status)) return 'response without a valid :status';
  }
  return out;
}
