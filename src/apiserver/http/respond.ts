// Writing answers: JSON bodies and Kubernetes Status errors.
import type { ServerResponse } from 'node:http';
import { toStatus } from '../errors.js';

export const jsonHeaders = { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' };

export function send(res: ServerResponse, code: number, body: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(code, { ...jsonHeaders, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** A body that is not JSON (OpenAPI v2's protobuf encoding). */
export function sendBytes(res: ServerResponse, code: number, contentType: string, body: Buffer): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(code, { 'Content-Type': contentType, 'Cache-Control': 'no-cache, private', 'Content-Length': body.length });
  res.end(body);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const st = toStatus(err);
  send(res, st.code, JSON.stringify(st));
}
