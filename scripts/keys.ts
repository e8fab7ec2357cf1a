/**
 * `npm run keys -- <command>`: the admin CLI. Manages keys in the key source the gateway is
 * configured with (GOOGLE_SHEET_ID, else KEYS_FILE), read from the same environment.
 * See scripts/keys/program.ts for the commands, and docs/cli.md.
 */
import { main } from './keys/program.ts';

process.exitCode = await main(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
