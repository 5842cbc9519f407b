// src/dashboard: `mesh dashboard`, a read-only web view of the clusterset. Other components import only this file.
export { startDashboard, PAGES, type DashboardOptions, type RunningDashboard } from './server.js';
export { DashboardError, type DashboardErrorCode } from './errors.js';
export { isLoopback } from './security.js';
export type { RunChecks } from './collector.js';
export type * from './model.js';
