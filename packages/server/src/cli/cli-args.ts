/** Argument parsing shared by the CLI's commands (node:util parseArgs), and the connection they make. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Writable } from 'node:stream';
import { Longbow } from '@longbow/client';

/** A mistake in the command line: printed with the usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface CliIo {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every client command takes. */
export const CONNECTION_OPTIONS = {
  url: { type: 'string', short: 'u' },
  token: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

export const CONNECTION_HELP = `  -u, --url URL      server address (default $LONGBOW_URL or grpc://localhost:3000)
      --token TOKEN  bearer token (default $LONGBOW_TOKEN, else $LONGBOW_AUTH_TOKEN)`;

export interface Parsed<T extends Options> {
  values: { [K in keyof T]?: T[K] extends { type: 'boolean' } ? (T[K] extends { multiple: true } ? boolean[] : boolean)
    : (T[K] extends { multiple: true } ? string[] : string) };
  positionals: string[];
}

export function parse<T extends Options>(args: readonly string[], options: T): Parsed<T> {
  try {
    const { values, positionals } = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
    return { values: values as Parsed<T>['values'], positionals };
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
}

export function positiveInteger(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new UsageError(`${name} must be a non-negative integer, got "${text}"`);
  return value;
}

export function commaList(text: string | undefined): string[] | undefined {
  return text === undefined ? undefined : text.split(',').map((item) => item.trim()).filter((item) => item !== '');
}

export function connectionOf(values: { url?: string; token?: string }, env: NodeJS.ProcessEnv): { url: string; token?: string } {
  const token = values.token ?? env.LONGBOW_TOKEN ?? env.LONGBOW_AUTH_TOKEN;
  return { url: values.url ?? env.LONGBOW_URL ?? 'grpc://localhost:3000', token: token === '' ? undefined : token };
}

export async function connect(values: { url?: string; token?: string }, env: NodeJS.ProcessEnv): Promise<Longbow> {
  const { url, token } = connectionOf(values, env);
  return Longbow.connect(url, { token });
}

/** Runs `body` with a connected client and closes it afterwards. */
export async function withClient<T>(values: { url?: string; token?: string }, env: NodeJS.ProcessEnv,
  body: (lb: Longbow) => Promise<T>): Promise<T> {
  const lb = await connect(values, env);
  try {
    return await body(lb);
  } finally {
    lb.close();
  }
}

export function oneDataset(positionals: readonly string[], command: string): string {
  if (positionals.length !== 1) throw new UsageError(`${command} takes one dataset name`);
  return positionals[0];
}
