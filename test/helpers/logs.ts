// A real winston logger (JSON lines, as the components log in a cluster) whose lines a test reads back.
import { Writable } from 'node:stream';
import winston from 'winston';

export interface CapturedLogs {
  logger: winston.Logger;
  /** Every line written so far, parsed. */
  lines: () => Array<Record<string, unknown>>;
}

export function captureLogs(level = 'info'): CapturedLogs {
  const out: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, cb) { out.push(chunk.toString()); cb(); } });
  const logger = winston.createLogger({ level, format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  return { logger, lines: () => out.join('').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}
