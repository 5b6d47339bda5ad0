#!/usr/bin/env node
// The `longbow` command. The sources are TypeScript run through tsx (no build step), so this
// registers tsx's loader and hands the command line to src/cli/longbow-cli.ts.
import { register } from 'tsx/esm/api';

register();
// A reader that stops early (`longbow get ... | head`) closes the pipe: not an error.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});
const { runCli } = await import('../src/cli/longbow-cli.ts');
const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env,
});
// `serve` resolves with undefined: the server runs on and sets the exit code itself.
if (code !== undefined) {
  process.exitCode = code;
}
