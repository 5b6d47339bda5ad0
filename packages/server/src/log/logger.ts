/**
 * Structured JSON logs: one line per event, `level` in upper case, `msg` as the message key,
 * ISO time. `LONGBOW_LOG_LEVEL` sets the threshold and can change at run time.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  level: LogLevel;
  /** Where lines go; standard output by default (synchronous, so a crash loses nothing). */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino({
    level: options.level,
    messageKey: 'msg',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label.toUpperCase() }) },
    serializers: { err: pino.stdSerializers.err },
  }, options.destination ?? pino.destination({ dest: 1, sync: true }));
}
