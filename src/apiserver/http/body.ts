// Request bodies: size limits, content types, JSON / YAML / protobuf decoding.
import type { IncomingMessage } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { ApiError, badRequest } from '../errors.js';
import { decodeKubeProtobuf } from '../protobuf.js';
import type { PatchType } from '../rest.js';

export const protobufType = 'application/vnd.kubernetes.protobuf';

export const patchTypes: Record<string, PatchType> = {
  'application/merge-patch+json': 'merge',
  'application/json-patch+json': 'json',
  'application/strategic-merge-patch+json': 'strategic',
  'application/apply-patch+yaml': 'apply',
  'application/apply-patch+json': 'apply',
};

export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return readBytes(req, limit).then((b) => b.toString('utf8'));
}

export function readBytes(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const len = Number(req.headers['content-length'] ?? '0');
    const tooLarge = () => new ApiError('RequestEntityTooLarge', `the request body is larger than the ${limit} bytes the server accepts`);
    if (len > limit) {
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
    });
  });
}

/** A POST/PUT body: JSON, YAML, or the protobuf kubectl's typed clients send. */
export async function readObjectBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const raw = await readBytes(req, limit);
  if (mediaType(req) === protobufType) return decodeKubeProtobuf(raw);
  if (mediaType(req) === 'application/yaml') {
    try {
      return parseYaml(raw.toString('utf8')) as unknown;
    } catch (e) {
      throw badRequest(`error decoding the request body as YAML: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    }
  }
  return parseJsonBody(raw.toString('utf8'));
}

export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') throw badRequest('the request body is empty');
  let out: unknown;
  try {
    out = JSON.parse(text) as unknown;
  } catch (e) {
    throw badRequest(`error decoding the request body as JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  // `__proto__` keys would re-prototype the objects the patch and merge code builds; no Kubernetes field has one.
  if (text.includes('__proto__')) {
    JSON.parse(text, (k, v: unknown) => {
      if (k === '__proto__') throw badRequest('the request body contains a "__proto__" key');
      return v;
    });
  }
  return out;
}

/** Refuses (415) a body in a format the server cannot read. */
export function checkContentType(req: IncomingMessage): void {
  const t = mediaType(req);
  if (t === '' || t === 'application/json' || t === '*/*' || t === protobufType || t === 'application/yaml') return;
  req.resume();
  throw new ApiError('UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (some kinds)`);
}
