// Debug images the sandbox kubelet runs from the host's own tools, so tools that exec into pods (the MCS
// conformance suite, people debugging DNS) work without a container runtime: nicolaka/netshoot (the host's
// dig, nslookup, curl, nc, socat, ip…), alpine/socat (socat) and busybox (busybox applets). The rules are
// Docker's: `command` replaces the image's ENTRYPOINT, `args` its CMD. Pure except `probeHostTools`.
import { spawnSync } from 'node:child_process';
import { basename } from 'node:path';
import type { Container } from './types.js';

export interface DebugImage {
  /** Repository name as users write it (no registry, tag or digest). */
  name: string;
  entrypoint: string[];
  cmd: string[];
  /** The host tool the image cannot run without (its absence is an image pull failure, with a hint). */
  needs: string;
  /** Commands resolve to busybox applets first (PATH = a directory of applet links), as in the image. */
  busybox?: boolean;
}

/** The allowlist. Anything else that is not the mesh's image stays ErrImagePull. */
export const DEBUG_IMAGES: readonly DebugImage[] = [
  // The real image's CMD is zsh; the host has sh. Without a tty it exits at once, as the real one does.
  { name: 'nicolaka/netshoot', entrypoint: [], cmd: ['sh'], needs: 'dig' },
  { name: 'alpine/socat', entrypoint: ['socat'], cmd: [], needs: 'socat' },
  { name: 'busybox', entrypoint: [], cmd: ['sh'], needs: 'busybox', busybox: true },
];

/** `docker.io/library/busybox:1.36@sha256:…` → `busybox`; `ghcr.io/nicolaka/netshoot:v0.13` → `nicolaka/netshoot`. */
export function imageRepository(image: string): string {
  let ref = image.trim().toLowerCase();
  const at = ref.indexOf('@');
  if (at >= 0) ref = ref.slice(0, at);
  const parts = ref.split('/');
  // A first part with a dot, a colon or `localhost` is a registry host.
  if (parts.length > 1 && /[.:]|^localhost$/.test(parts[0] ?? '')) parts.shift();
  const last = parts.length - 1;
  parts[last] = (parts[last] ?? '').replace(/:[\w.-]+$/, '');
  if (parts[0] === 'library' && parts.length === 2) parts.shift();
  return parts.join('/');
}

export function debugImage(image: string | undefined): DebugImage | undefined {
  if (!image) return undefined;
  const repo = imageRepository(image);
  return DEBUG_IMAGES.find((d) => d.name === repo);
}

/** What the host has: tool → path, and the busybox applets. */
export interface HostTools {
  paths: Record<string, string | undefined>;
  applets: ReadonlySet<string>;
}

export function probeHostTools(): HostTools {
  const paths: Record<string, string | undefined> = {};
  for (const tool of new Set(DEBUG_IMAGES.map((d) => d.needs).concat(['busybox']))) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    paths[tool] = r.status === 0 ? r.stdout.trim() || undefined : undefined;
  }
  const bb = paths.busybox ? spawnSync(paths.busybox, ['--list'], { encoding: 'utf8' }) : undefined;
  return { paths, applets: new Set(bb?.status === 0 ? bb.stdout.split('\n').filter(Boolean) : []) };
}

let cached: HostTools | undefined;
/** The host's tools, probed once per process (the kubelet and its exec streams share them). */
export function hostTools(): HostTools {
  cached ??= probeHostTools();
  return cached;
}

export type DebugResolved =
  | { ok: true; argv: string[]; host: true; busybox: boolean }
  | { ok: false; reason: 'ErrImagePull' | 'RunContainerError'; message: string };

/**
 * The argv of a debug-image container, run as a host command. socat listeners get `bind=$(POD_IP)` (the
 * kubelet expands it): pods of a cluster share its network namespace, so `TCP-LISTEN:42` of two replicas
 * must each take their own pod address, as they would in their own namespaces.
 */
export function resolveDebugContainer(c: Container, img: DebugImage, tools: HostTools): DebugResolved {
  const tool = tools.paths[img.needs];
  if (!tool) {
    return { ok: false, reason: 'ErrImagePull', message: `Failed to pull image "${c.image ?? ''}": the sandbox runs ${img.name} from the host's ${img.needs}, which is not installed (apt-get install ${img.needs === 'dig' ? 'dnsutils' : img.needs})` };
  }
  const command = c.command?.length ? c.command : img.entrypoint;
  const argv = [...command, ...(c.args ?? (c.command?.length ? [] : img.cmd))];
  if (argv.length === 0) return { ok: false, reason: 'RunContainerError', message: `image ${img.name} has no default command; give command or args` };
  const out = img.busybox ? busyboxArgv(argv, tools) : argv;
  if (basename(out[0] ?? '') === 'socat') return { ok: true, argv: [out[0] as string, ...out.slice(1).map(bindListener)], host: true, busybox: img.busybox === true };
  return { ok: true, argv: out, host: true, busybox: img.busybox === true };
}

/** In a busybox image `/bin/sh` and `nslookup` are applets: run them as `busybox <applet>`. */
export function busyboxArgv(argv: string[], tools: HostTools): string[] {
  const [first = '', ...rest] = argv;
  const name = basename(first);
  const bb = tools.paths.busybox;
  if (bb && tools.applets.has(name) && (first === name || /^\/(usr\/)?s?bin\//.test(first))) return [bb, name, ...rest];
  return argv;
}

/** The argv `kubectl exec` runs in a debug-image container (busybox: applets first). */
export function debugExecArgv(image: string | undefined, command: string[], tools: HostTools): string[] {
  const img = debugImage(image);
  return img?.busybox ? busyboxArgv(command, tools) : command;
}

function bindListener(arg: string): string {
  const m = /^((?:tcp|udp)[46]?-listen):(\d+)(,.*)?$/i.exec(arg);
  if (!m || /(^|,)bind=/i.test(m[3] ?? '')) return arg;
  return `${arg},bind=$(POD_IP)`;
}
