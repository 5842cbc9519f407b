// `mesh app connect HOST:PORT`: opens one TCP connection and says by its exit code how it went. `mesh
// check` runs it in a short-lived pod to test the data path from inside a cluster; the exit code carries
// the outcome because a terminated container's exit code is in the Pod's status everywhere (its log is
// not readable through every API server, the sandbox's included).
import net from 'node:net';
import { writeFileSync } from 'node:fs';

export const CONNECT_OUTCOMES = ['connected', 'refused', 'unreachable', 'timeout', 'closed', 'reset', 'error'] as const;
export type ConnectOutcome = (typeof CONNECT_OUTCOMES)[number];

/** Exit code per outcome; 1 and 2 stay the CLI's own (failure, usage). */
export const OUTCOME_EXIT: Record<ConnectOutcome, number> = { connected: 0, refused: 10, unreachable: 11, timeout: 12, closed: 13, reset: 14, error: 15 };

export function outcomeOfExit(code: number): ConnectOutcome | undefined {
  return CONNECT_OUTCOMES.find((o) => OUTCOME_EXIT[o] === code);
}

/** In words, for a check line: "… could not connect: <this>". */
export const OUTCOME_TEXT: Record<ConnectOutcome, string> = {
  connected: 'connected',
  refused: 'connection refused (nothing listens there)',
  unreachable: 'no route to that address',
  timeout: 'no answer (timed out)',
  closed: 'accepted, then closed before the hold time',
  reset: 'accepted, then reset',
  error: 'failed',
};

export interface ConnectResult {
  outcome: ConnectOutcome;
  message: string;
  ms: number;
}

export function parseHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) return undefined;
  return { host: m[1] ?? m[2], port };
}

function outcomeOfError(err: NodeJS.ErrnoException): ConnectOutcome {
  switch (err.code) {
    case 'ECONNREFUSED': return 'refused';
    case 'EHOSTUNREACH': case 'ENETUNREACH': return 'unreachable';
    case 'ETIMEDOUT': return 'timeout';
    case 'ECONNRESET': case 'EPIPE': return 'reset';
    default: return 'error';
  }
}

/**
 * Connects to host:port. With `holdMs`, a connection must also stay open that long (or the peer speak
 * first): a gateway accepts at once and closes only when its tunnel to the other cluster fails.
 */
export function probeConnect(host: string, port: number, o: { timeoutMs: number; holdMs: number }): Promise<ConnectResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    let done = false;
    const finish = (outcome: ConnectOutcome, message: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ outcome, message, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish('timeout', `no answer from ${host}:${port} within ${o.timeoutMs} ms`), o.timeoutMs);
    sock.on('error', (err: NodeJS.ErrnoException) => finish(outcomeOfError(err), `${host}:${port}: ${err.code ?? err.message}`));
    sock.on('connect', () => {
      if (o.holdMs <= 0) return finish('connected', `connected to ${host}:${port}`);
      clearTimeout(timer);
      const hold = setTimeout(() => finish('connected', `connected to ${host}:${port}, open for ${o.holdMs} ms`), o.holdMs);
      sock.once('data', () => { clearTimeout(hold); finish('connected', `connected to ${host}:${port}, which answered`); });
      sock.once('end', () => { clearTimeout(hold); finish('closed', `${host}:${port} closed the connection after ${Date.now() - started} ms`); });
      sock.once('close', () => { clearTimeout(hold); finish('closed', `${host}:${port} closed the connection after ${Date.now() - started} ms`); });
      sock.once('error', () => clearTimeout(hold));
    });
  });
}

/**
 * Kubernetes shows this file's text as the terminated container's message. Written only if it exists
 * (r+): outside a container (a sandbox pod is a host process) it must not be created in the host's /dev.
 */
export function writeTerminationMessage(text: string, path = '/dev/termination-log'): void {
  try {
    writeFileSync(path, text, { flag: 'r+' });
  } catch {
    // Not in a pod (or no such file in this runtime): the exit code still says it.
  }
}
