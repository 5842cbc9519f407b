// pods/exec: runs a command in the pod (through PodStreams) over the remote-command protocols
// (remote-command.ts); the session ends with the command's exit status.
import type { Duplex } from 'node:stream';
import { badRequest } from '../errors.js';
import type { UpgradeRequest } from './context.js';
import { containerOf, podOf, podStreamsOf } from './pod-log.js';
import { serveRemoteCommand, streamFlags, type FinalStatus, type RemoteSession } from './remote-command.js';

export function execSession(r: UpgradeRequest): RemoteSession {
  const q = r.query;
  const pod = podOf(r);
  const command = q.getAll('command');
  if (command.length === 0) throw badRequest('you must specify at least one command for the container');
  const f = streamFlags(q);
  const options = { container: containerOf(pod, q.get('container')), command, stdin: f.stdin, tty: f.tty };
  const streams = podStreamsOf(r, pod);
  return { pod, ...f, start: () => streams.exec(pod, options), final: (code) => exitStatus(code, command) };
}

/** What the error channel carries when the command ended: a Status (v4+), a message (older) for a failure. */
export function exitStatus(code: number, command: string[]): FinalStatus {
  if (code === 0) return { status: { metadata: {}, status: 'Success' }, legacy: undefined };
  return {
    status: {
      metadata: {},
      status: 'Failure',
      message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${code}`,
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
    },
    legacy: `command terminated with non-zero exit code: ${code}`,
  };
}

export function serveExecUpgrade(r: UpgradeRequest, socket: Duplex, head: Buffer): Promise<void> {
  return serveRemoteCommand(r, socket, head, execSession(r));
}
