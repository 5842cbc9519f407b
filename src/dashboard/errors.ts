// One error type for the dashboard, with a stable code saying what went wrong and a hint to fix it.
export type DashboardErrorCode =
  | 'PortInUse' // the port is taken
  | 'Listen' // any other failure to listen
  | 'AssetsMissing' // the built browser code is not there
  | 'Usage'; // bad options

export class DashboardError extends Error {
  constructor(readonly code: DashboardErrorCode, message: string, readonly hint?: string) {
    super(message);
    this.name = 'DashboardError';
  }
}
