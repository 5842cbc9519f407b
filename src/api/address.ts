// How an address and port are written together, everywhere the mesh prints or dials one: an IPv6 address in
// brackets (`[fd00:10:1::a:5]:4143`), as URLs, gRPC targets and Node's own messages write it.
import { isIPv6 } from 'node:net';

export function hostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}
