// Names the demo and the scenarios share.
import { readFileSync } from 'node:fs';
import { DEFAULT_CLUSTER_DOMAIN, meshImage } from '../api/index.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

export const DEMO_NS = 'demo';
/** The image `mesh install` defaults to as well: this build's version. */
export const DEFAULT_IMAGE = meshImage(pkg.version);

/** A target of the demo's traffic: which shadow, which protocol, which path it should take. */
export interface Target {
  /** What a newcomer reads. */
  label: string;
  /** The shadow Service the address goes through (for its mode annotation); a StatefulSet pod has its own. */
  shadow: string;
  /** Expected path. */
  mode: 'gateway' | 'flat';
  request: { url: string } | { grpc: string } | { tcp: string };
}

/** Shadow DNS name of a remote service, as the mirror names it. */
export const shadowHost = (svc: string, remote: string, domain = DEFAULT_CLUSTER_DOMAIN) => `${svc}-${remote}.${DEMO_NS}.svc.${domain}`;

export function demoTargets(remote: string, domain = DEFAULT_CLUSTER_DOMAIN): Target[] {
  return [
    { label: 'HTTP through the gateway', shadow: `web-${remote}`, mode: 'gateway', request: { url: `http://${shadowHost('web', remote, domain)}:8080/` } },
    { label: 'gRPC through the gateway', shadow: `grpc-${remote}`, mode: 'gateway', request: { grpc: `${shadowHost('grpc', remote, domain)}:9090` } },
    { label: 'raw TCP through the gateway', shadow: `tcp-${remote}`, mode: 'gateway', request: { tcp: `${shadowHost('tcp', remote, domain)}:7070` } },
    { label: 'StatefulSet pod db-0 by name', shadow: `db-0-db-${remote}`, mode: 'gateway', request: { url: `http://db-0.${shadowHost('db', remote, domain)}:8080/` } },
    { label: 'HTTP flat (pod to pod)', shadow: `web-flat-${remote}`, mode: 'flat', request: { url: `http://${shadowHost('web-flat', remote, domain)}:8080/` } },
  ];
}
