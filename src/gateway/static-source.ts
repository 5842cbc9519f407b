// Routes and credentials from files, for static setups, benchmarks and tests. Both are re-read when the
// files change (credential renewal on disk, a routes edit), validated first; a bad file is logged and the
// last good state is kept.
import { readFileSync, watchFile, unwatchFile } from 'node:fs';
import { createRequire } from 'node:module';
import { z } from 'zod';
import type YAML from 'yaml';
import type { Logger } from '../log/index.js';
import { GatewayError } from './errors.js';
import { ExportedServiceSchema, OutboundRouteSchema, PodCallerSchema, RemoteGatewaySchema, type Credentials, type CredentialSource, type RouteSnapshot, type RouteSource } from './types.js';

export const RouteFileSchema = z.object({
  exported: z.array(ExportedServiceSchema).default([]),
  outbound: z.array(OutboundRouteSchema).default([]),
  remotes: z.array(RemoteGatewaySchema).default([]),
  linkedClusters: z.array(z.string().min(1)).optional(),
  /** Local pods for caller attestation (what the Kubernetes source reads from Pods); absent = every outbound
   * caller is `unknown-caller`. */
  callers: z.array(PodCallerSchema).optional(),
});
export type RouteFile = z.input<typeof RouteFileSchema>;

const POLL_MS = 250;

/** A fixed snapshot, changeable from code (tests, benchmarks). */
export class MemoryRouteSource implements RouteSource {
  private listener: ((s: RouteSnapshot) => void) | undefined;
  constructor(private snapshot: RouteSnapshot = { exported: [], outbound: [], remotes: [] }) {}
  async start(onChange: (s: RouteSnapshot) => void): Promise<void> {
    this.listener = onChange;
    onChange(this.snapshot);
  }
  set(s: RouteFile): void {
    this.snapshot = RouteFileSchema.parse(s);
    this.listener?.(this.snapshot);
  }
  synced(): boolean {
    return true;
  }
  async stop(): Promise<void> {
    this.listener = undefined;
  }
}

/** JSON as is; yaml (~1 MB of heap, measured) is loaded only for a file that is not JSON. */
function parseYamlOrJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return (createRequire(import.meta.url)('yaml') as typeof YAML).parse(text) as unknown;
  }
}

export function parseRouteFile(text: string, path: string): RouteSnapshot {
  let raw: unknown;
  try {
    raw = parseYamlOrJson(text);
  } catch (err) {
    throw new GatewayError('BAD_CONFIG', `${path}: not YAML/JSON: ${(err as Error).message}`);
  }
  const r = RouteFileSchema.safeParse(raw ?? {});
  if (!r.success) throw new GatewayError('BAD_CONFIG', `${path}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

export class FileRouteSource implements RouteSource {
  private loaded = false;
  constructor(
    private readonly path: string,
    private readonly logger: Logger,
  ) {}
  async start(onChange: (s: RouteSnapshot) => void): Promise<void> {
    const load = (first: boolean) => {
      try {
        const snapshot = parseRouteFile(readFileSync(this.path, 'utf8'), this.path);
        // Loaded before the hand-off: a consumer asking synced() while applying it (the primary, which
        // forwards the flag to its workers) sees true.
        this.loaded = true;
        onChange(snapshot);
        if (!first) this.logger.info('routes reloaded', { file: this.path });
      } catch (err) {
        if (first) throw err;
        this.logger.error('routes file rejected; keeping the last good routes', { file: this.path, error: (err as Error).message });
      }
    };
    load(true);
    watchFile(this.path, { interval: POLL_MS, persistent: false }, () => load(false));
  }
  synced(): boolean {
    return this.loaded;
  }
  async stop(): Promise<void> {
    unwatchFile(this.path);
  }
}

export function staticCredentials(c: Credentials): CredentialSource {
  return { current: () => c, onChange: () => {} };
}

/** A credential source that can be changed from code (renewal in tests). */
export class MemoryCredentials implements CredentialSource {
  private listeners: Array<(c: Credentials) => void> = [];
  constructor(private c: Credentials | undefined) {}
  current(): Credentials | undefined {
    return this.c;
  }
  set(c: Credentials): void {
    this.c = c;
    for (const l of this.listeners) l(c);
  }
  onChange(l: (c: Credentials) => void): void {
    this.listeners.push(l);
  }
}

/** --cert/--key/--bundle files, re-read when any changes (a renewal writes new files). */
export class FileCredentials implements CredentialSource {
  private c: Credentials;
  private listeners: Array<(c: Credentials) => void> = [];
  private readonly files: string[];
  constructor(
    private readonly paths: { cert: string; key: string; bundle: string },
    private readonly logger: Logger,
  ) {
    this.c = this.read();
    this.files = [paths.cert, paths.key, paths.bundle];
    for (const f of this.files) watchFile(f, { interval: POLL_MS, persistent: false }, () => this.reload());
  }
  private read(): Credentials {
    try {
      const c = { certChain: readFileSync(this.paths.cert, 'utf8'), key: readFileSync(this.paths.key, 'utf8'), bundle: readFileSync(this.paths.bundle, 'utf8') };
      for (const [k, v] of Object.entries(c)) if (!v.includes('-----BEGIN ')) throw new Error(`${k} is not PEM`);
      return c;
    } catch (err) {
      throw new GatewayError('BAD_CREDENTIALS', `cannot read gateway credentials: ${(err as Error).message}`);
    }
  }
  private reload(): void {
    try {
      const c = this.read();
      if (c.certChain === this.c.certChain && c.key === this.c.key && c.bundle === this.c.bundle) return;
      this.c = c;
      for (const l of this.listeners) l(c);
    } catch (err) {
      this.logger.warn('credential files unreadable; keeping the current ones', { error: (err as Error).message });
    }
  }
  current(): Credentials {
    return this.c;
  }
  onChange(l: (c: Credentials) => void): void {
    this.listeners.push(l);
  }
  stop(): void {
    for (const f of this.files) unwatchFile(f);
  }
}
