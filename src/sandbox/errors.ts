/** Stable codes for every sandbox failure, so callers (the CLI, tests) branch on codes, not messages. */
export type SandboxErrorCode =
  | 'BadFlag'
  | 'NotRoot'
  | 'MissingTool'
  | 'NoState'
  | 'BadState'
  | 'AlreadyRunning'
  | 'UnknownCluster'
  | 'NoLoopbackRange'
  | 'PodCIDRExhausted'
  | 'ClusterFailed'
  | 'Command'
  | 'Api'
  | 'Internal';

export class SandboxError extends Error {
  constructor(
    readonly code: SandboxErrorCode,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'SandboxError';
  }
}
