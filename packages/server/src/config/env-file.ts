/**
 * Where the configuration comes from: the process environment and an optional `.env` file in
 * the working directory (or at `LONGBOW_ENV_FILE`). At startup the real environment wins over
 * the file; on reload (SIGHUP) the file is re-read and wins, so an operator changes a setting
 * by editing the file.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { ConfigError, SETTINGS } from './config.ts';

export type Environment = Record<string, string | undefined>;

export const ENV_FILE_VARIABLE = 'LONGBOW_ENV_FILE';
const ENV_FILE_DEFAULT = '.env';

const LINE_PATTERN = /^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*\s*=/;

/** The file's path, and whether it was named explicitly (then it must exist). */
export function envFilePath(env: Environment): { path: string; explicit: boolean } {
  const named = env[ENV_FILE_VARIABLE];
  return named ? { path: resolve(named), explicit: true } : { path: resolve(ENV_FILE_DEFAULT), explicit: false };
}

/**
 * Reads a `.env` file: `KEY=value` lines, `#` comments, optional quotes and `export`. A missing
 * file is empty unless it was named explicitly. Throws ConfigError naming the file and line
 * for a line that is not `KEY=value`.
 */
export function readEnvFile(path: string, explicit: boolean): Environment {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) return {};
    throw new ConfigError(ENV_FILE_VARIABLE, `cannot read ${path}: ${(error as Error).message}`);
  }
  let quote: string | undefined;
  text.split(/\r?\n/).forEach((line, index) => {
    // Inside a quoted value that spans lines, nothing is checked until the quote closes.
    if (quote !== undefined) {
      if (line.includes(quote)) quote = undefined;
      return;
    }
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    if (!LINE_PATTERN.test(line)) {
      const key = /^\s*(?:export\s+)?([A-Za-z0-9_.-]+)/.exec(line)?.[1] ?? `line ${index + 1}`;
      throw new ConfigError(key, `${path}:${index + 1}: expected KEY=value`);
    }
    const value = line.slice(line.indexOf('=') + 1).trim();
    const opening = value[0];
    if ((opening === '"' || opening === "'" || opening === '`') && value.indexOf(opening, 1) === -1) quote = opening;
  });
  return parseEnv(text) as Environment;
}

/**
 * The environment the configuration is read from: `.env` under the process environment at
 * startup, over it on reload.
 */
export function configEnvironment(processEnv: Environment, moment: 'startup' | 'reload'): Environment {
  const { path, explicit } = envFilePath(processEnv);
  const fromFile = readEnvFile(path, explicit);
  return moment === 'startup' ? { ...fromFile, ...processEnv } : { ...processEnv, ...fromFile };
}

const KNOWN_VARIABLES = new Set<string>([ENV_FILE_VARIABLE, ...Object.values(SETTINGS).map((setting) => setting.variable)]);

/** `LONGBOW_*` names that are not settings (most likely typos), to warn about. */
export function unknownVariables(env: Environment): string[] {
  return Object.keys(env).filter((name) => name.startsWith('LONGBOW_') && !KNOWN_VARIABLES.has(name)).sort();
}
