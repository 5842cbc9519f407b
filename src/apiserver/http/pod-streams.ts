// The seam between the API server and whatever runs pods (the sandbox kubelet): pods/log, pods/exec,
// pods/attach and pods/portforward are answered by the API server (HTTP, WebSocket and SPDY protocols, RBAC) with the
// pod-level operations this interface gives. As kube-apiserver → kubelet, minus the second hop.
import type { Duplex, Readable, Writable } from 'node:stream';
import type { Obj } from '../store.js';

export interface PodLogOptions {
  container: string;
  follow: boolean;
  /** The container's previous instance (it restarted). */
  previous: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  timestamps: boolean;
  limitBytes?: number;
}

export interface ExecOptions {
  container: string;
  command: string[];
  stdin: boolean;
  tty: boolean;
}

export interface AttachOptions {
  container: string;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** The container's own (spec.tty): a terminal cannot be added to a running process. */
  tty: boolean;
}

/**
 * A running exec or attach session: its streams, a resize hook (tty), and how it ended. For attach, ending
 * `stdin` is the client's end of input, `exited` resolves (0) when the session is over and `kill` detaches:
 * the container keeps running.
 */
export interface ExecProcess {
  stdin: Writable | undefined;
  stdout: Readable;
  stderr: Readable;
  resize(width: number, height: number): void;
  /** The exit code (128 + signal when killed). */
  exited: Promise<number>;
  kill(): void;
}

export interface PodStreams {
  /** The container's log; with `follow`, the stream stays open while the container runs or until `signal` aborts. */
  log(pod: Obj, o: PodLogOptions, signal: AbortSignal): Promise<Readable>;
  /** Runs a command in the pod's environment. Throws ApiError for a pod or container that cannot run one. */
  exec(pod: Obj, o: ExecOptions): Promise<ExecProcess>;
  /** Connects to the running container's stdio. Throws ApiError for a container that is not running. */
  attach(pod: Obj, o: AttachOptions): Promise<ExecProcess>;
  /** A TCP connection to `port` of the pod. */
  portForward(pod: Obj, port: number): Promise<Duplex>;
}
