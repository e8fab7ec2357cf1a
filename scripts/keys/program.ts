/**
 * The admin CLI's commands and options (commander), its error handling and exit codes:
 * 0 done, 1 the key source failed or refused, 2 bad input. Errors are one line on stderr.
 * The commands themselves live beside this file and only see the KeyTable interface.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig } from '../../server/config.ts';
import { checkExpires, InputError, parseGrace, parseKeyId, parseName, parseNewName, parseQuota, parseQuotaPeriod, parseRateLimit, printable } from '../../server/keytable/input.ts';
import { openKeyTable, openUsageHistory } from '../../server/keytable/open.ts';
import { TableError } from '../../server/keytable/table.ts';
import { addCommand } from './add.ts';
import type { Context } from './context.ts';
import { hashExistingCommand } from './hash-existing.ts';
import { initCommand } from './init.ts';
import { listCommand } from './list.ts';
import { revokeCommand } from './revoke.ts';
import { DEFAULT_GRACE, rotateCommand } from './rotate.ts';
import { checkSelector } from './select.ts';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

/** Where the CLI reads its configuration and writes its output: the process, or a test. */
export interface Io {
  env: Record<string, string | undefined>;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Parses an option value in the action, so a bad value is reported without repeating it (it might be a key). */
function parsed<T>(flag: string, value: string | undefined, parse: (v: string) => T): T | undefined {
  if (value === undefined) return undefined;
  try {
    return parse(value);
  } catch (err) {
    if (err instanceof InputError) throw new InputError(`${flag}: ${err.message}`);
    throw err;
  }
}

type QuotaFlags = { tokenQuota?: string; requestQuota?: string; quotaPeriod?: string };

/** The quota options of add and rotate, parsed. */
function quotaOptions(o: QuotaFlags) {
  return {
    tokenQuota: parsed('--token-quota', o.tokenQuota, parseQuota),
    requestQuota: parsed('--request-quota', o.requestQuota, parseQuota),
    quotaPeriod: parsed('--quota-period', o.quotaPeriod, parseQuotaPeriod),
  };
}

function withQuotaOptions(command: Command, inherit: boolean): Command {
  const tail = inherit ? ' (default: the old row\'s)' : '';
  return command
    .option('--token-quota <n>', `prompt + completion tokens per quota period for the client, a positive whole number${tail}`)
    .option('--request-quota <n>', `requests per quota period for the client${tail}`)
    .option('--quota-period <p>', `day, week (from Monday) or month, in the sheet's time zone (file: KEYS_TIMEZONE)${inherit ? tail : '; default month'}`);
}

const SOURCE_HELP = `
The key source is the gateway's, from the same environment variables: GOOGLE_SHEET_ID (with
GOOGLE_CREDENTIALS_PATH, GOOGLE_SHEET_NAME, SHEETS_API_URL), else KEYS_FILE (with KEYS_TIMEZONE).
Exit codes: 0 done, 1 the key source failed or refused, 2 bad input.`;

function build(io: Io): Command {
  const context = async (): Promise<Context> => {
    const config = loadConfig(io.env);
    return { config, table: await openKeyTable(config), history: () => openUsageHistory(config), print: (text = '') => io.stdout(`${printable(text)}\n`), now: Date.now };
  };
  const program = new Command('npm run keys --')
    .description('Manage the gateway\'s API keys in its key source (Google Sheet or KEYS_FILE).')
    .addHelpText('after', SOURCE_HELP)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => undefined });

  program.command('init')
    .description('create the keys and usage tabs (or files) with their headers; safe to run again')
    .addHelpText('after', '\nExample:\n  npm run keys -- init')
    .action(async () => initCommand(await context()));

  withQuotaOptions(program.command('add'), false)
    .description('add an active key for a client and print it once')
    .requiredOption('--name <name>', 'client name (sent back in X-Client-Name)')
    .option('--rate-limit <n>', 'requests per RATE_LIMIT_WINDOW, a positive whole number (default: RATE_LIMIT_DEFAULT)')
    .option('--expires <date>', 'YYYY-MM-DD (valid through that day) or "YYYY-MM-DD HH:MM[:SS][offset]"; without offset in the sheet\'s zone (file: KEYS_TIMEZONE)')
    .option('--hashed', 'store only the key\'s SHA-256 and a hint, never the key')
    .option('-q, --quiet', 'print only the key (for scripts)')
    .addHelpText('after', '\nExamples:\n  npm run keys -- add --name "Acme" --rate-limit 120 --expires 2026-12-31\n  npm run keys -- add --name "Acme" --token-quota 20000000 --quota-period month\n  KEY=$(npm run -s keys -- add --name ci-bot --hashed --quiet)')
    .action(async (o: { name: string; rateLimit?: string; expires?: string; hashed?: boolean; quiet?: boolean } & QuotaFlags) => {
      const opts = {
        ...quotaOptions(o),
        name: parsed('--name', o.name, parseNewName)!,
        rateLimit: parsed('--rate-limit', o.rateLimit, parseRateLimit),
        expires: parsed('--expires', o.expires, checkExpires),
        hashed: o.hashed === true,
        quiet: o.quiet === true,
      };
      await addCommand(await context(), opts);
    });

  program.command('list')
    .description('list keys (masked) with client, status (active/expired/inactive/rejected), limit, expiry and quota use this period (from the usage rows)')
    .option('--json', 'print JSON for machines')
    .option('--name <name>', 'only the keys of this client')
    .addHelpText('after', '\nExamples:\n  npm run keys -- list\n  npm run -s keys -- list --json | jq \'.keys[] | select(.status == "active")\'')
    .action(async (o: { json?: boolean; name?: string }) => {
      await listCommand(await context(), { json: o.json === true, name: parsed('--name', o.name, parseName) });
    });

  program.command('revoke')
    .description('set is_active FALSE: every key of a client (--name) or one key (--key-id)')
    .option('--name <name>', 'revoke all keys of this client')
    .option('--key-id <id>', 'revoke the key with this key id (16 hex characters, as list shows)')
    .addHelpText('after', '\nExamples:\n  npm run keys -- revoke --name "Acme"\n  npm run keys -- revoke --key-id 89f3293d1e29c4ca')
    .action(async (o: { name?: string; keyId?: string }) => {
      const sel = checkSelector({ name: parsed('--name', o.name, parseName), keyId: parsed('--key-id', o.keyId, parseKeyId) }, 'revoke');
      await revokeCommand(await context(), sel);
    });

  withQuotaOptions(program.command('rotate'), true)
    .description('add a new key for the client (same limits and expiry); the old key expires after the grace period')
    .option('--name <name>', 'the client whose single active key to rotate')
    .option('--key-id <id>', 'the key to rotate (when the client has several)')
    .option('--grace <duration>', 'how long the old key keeps working: 3600s, 90m, 24h, 7d', DEFAULT_GRACE)
    .option('--hashed', 'store the new key only as SHA-256 and hint (kept anyway when the old row is hashed)')
    .option('-q, --quiet', 'print only the new key (for scripts)')
    .addHelpText('after', '\nExamples:\n  npm run keys -- rotate --name "Acme" --grace 48h\n  npm run keys -- rotate --key-id 89f3293d1e29c4ca --grace 90m --hashed')
    .action(async (o: { name?: string; keyId?: string; grace: string; hashed?: boolean; quiet?: boolean } & QuotaFlags) => {
      const opts = {
        ...quotaOptions(o),
        ...checkSelector({ name: parsed('--name', o.name, parseName), keyId: parsed('--key-id', o.keyId, parseKeyId) }, 'rotate'),
        graceMs: parsed('--grace', o.grace, parseGrace)!,
        hashed: o.hashed === true,
        quiet: o.quiet === true,
      };
      await rotateCommand(await context(), opts);
    });

  program.command('hash-existing')
    .description('replace every plain api_key by its SHA-256 (api_key_sha256) and a hint (key_hint), in one write')
    .option('--dry-run', 'show what would be hashed, write nothing')
    .addHelpText('after', '\nExample:\n  npm run keys -- hash-existing --dry-run && npm run keys -- hash-existing')
    .action(async (o: { dryRun?: boolean }) => hashExistingCommand(await context(), { dryRun: o.dryRun === true }));

  return program;
}

/** Commander repeats what was typed; a key pasted in the wrong place must not reach the terminal log. */
function redact(message: string): string {
  return message.replace(/[^\s'"]{16,}/g, '[redacted]');
}

function oneLine(message: string): string {
  return message.replace(/^error:\s*/i, '').replace(/\s*\n\s*/g, ' ').trim();
}

/** Runs one command; returns the exit code. Errors are one line on stderr, never with a key in it. */
export async function main(argv: string[], io: Io): Promise<number> {
  if (argv.length === 0) {
    io.stderr('error: missing command (init, add, list, revoke, rotate, hash-existing); see: npm run keys -- --help\n');
    return EXIT_USAGE;
  }
  try {
    await build(io).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0; // --help, --version
      io.stderr(`error: ${redact(oneLine(err.message))}\n`);
      return EXIT_USAGE;
    }
    const known = err instanceof InputError || err instanceof TableError || err instanceof ConfigError;
    const message = known ? (err as Error).message : `unexpected failure: ${(err as Error)?.message ?? String(err)}`;
    io.stderr(`error: ${oneLine(message)}\n`);
    return err instanceof InputError ? EXIT_USAGE : EXIT_FAILED;
  }
}
