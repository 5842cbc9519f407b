// Structured JSON logs on stderr (stdout stays free for command output). Every component makes its
// logger here and adds the fields a person needs to act: link, cluster, service, peer.
import winston from 'winston';

export type Logger = winston.Logger;

export interface LoggerOptions {
  level?: string;
  /** Fields on every line, e.g. { cluster: 'cluster-a' }. */
  fields?: Record<string, string | number | boolean>;
}

export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  return winston.createLogger({
    level: options.level ?? process.env.MESH_LOG_LEVEL ?? 'info',
    defaultMeta: { component, ...options.fields },
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
  });
}

/** A logger that drops everything, for unit tests and library callers that pass none. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
