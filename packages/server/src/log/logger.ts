/**
 * Structured JSON logs: one line per event, `level` in upper case, `msg` as the message key,
 * ISO time. `LONGBOW_LOG_LEVEL` sets the threshold and can change at run time.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  level: LogLevel;
  /** `json` (default): the lines as they are. `pretty`: `time LEVEL msg key=value ...`. */
  format?: LogFormat;
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
  }, options.destination ?? (options.format === 'pretty' ? prettyDestination() : pino.destination({ dest: 1, sync: true })));
}

/** One readable line per event, for a terminal; written synchronously like the JSON lines. */
function prettyDestination(): DestinationStream {
  const out = pino.destination({ dest: 1, sync: true });
  return {
    write(line: string): void {
      out.write(prettyLine(line));
    },
  };
}

/** `2026-11-25T10:00:00.000Z INFO  Longbow listening data_addr=... auth=false` */
export function prettyLine(jsonLine: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine;
  }
  const { time, level, msg, err, ...fields } = record;
  const pairs = Object.entries(fields).map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  const stack = err && typeof err === 'object' && 'stack' in err ? `\n  ${String((err as { stack: unknown }).stack).replace(/\n/g, '\n  ')}` : '';
  return `${String(time ?? '')} ${String(level ?? '').padEnd(5)} ${String(msg ?? '')}${pairs.length > 0 ? ` ${pairs.join(' ')}` : ''}${stack}\n`;
}
