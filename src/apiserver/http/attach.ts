// pods/attach: connects to the running container's own stdio (through PodStreams) over the remote-command
// protocols (remote-command.ts). As the kubelet does: the tty follows the container's spec (a container
// started without one cannot get one later), and the session ends with Success when the container's
// output ends or the client detaches. stdin for a container started without `stdin: true` is accepted and
// goes nowhere, as with containerd (kubectl does not check it either).
import type { Duplex } from 'node:stream';
import type { UpgradeRequest } from './context.js';
import { containerOf, podOf, podStreamsOf } from './pod-log.js';
import { serveRemoteCommand, streamFlags, SUCCESS, type RemoteSession } from './remote-command.js';

interface ContainerTty {
  name?: string;
  tty?: boolean;
}

export function attachSession(r: UpgradeRequest): RemoteSession {
  const q = r.query;
  const pod = podOf(r);
  const f = streamFlags(q);
  const container = containerOf(pod, q.get('container'));
  const spec = ((pod['spec'] as { containers?: ContainerTty[] } | undefined)?.containers ?? []).find((c) => c.name === container);
  const tty = spec?.tty === true;
  const flags = { stdin: f.stdin, stdout: f.stdout, stderr: f.stderr && !tty, tty };
  const streams = podStreamsOf(r, pod);
  return { pod, ...flags, start: () => streams.attach(pod, { container, ...flags }), final: () => SUCCESS };
}

export function serveAttachUpgrade(r: UpgradeRequest, socket: Duplex, head: Buffer): Promise<void> {
  return serveRemoteCommand(r, socket, head, attachSession(r));
}
