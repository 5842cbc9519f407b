// One error type for the demo and the scenario runner, with a stable code saying which step failed.
export type DemoErrorCode =
  | 'Command' // a `mesh` or system command failed
  | 'Timeout' // a bounded wait ran out
  | 'Sandbox' // the sandbox did not come up
  | 'Traffic' // the traffic client could not be run
  | 'Interrupted' // Ctrl-C / SIGTERM during start-up
  | 'Usage'; // bad flags

export class DemoError extends Error {
  constructor(readonly code: DemoErrorCode, message: string, readonly hint?: string) {
    super(message);
    this.name = 'DemoError';
  }
}
