/**
 * `npm run demo`: a zero-config trial. Creates ./keys.csv with a demo key if there is none,
 * starts the stand-in vLLM and the gateway on the key file, and prints examples that work as
 * printed. `--self-test` runs the examples' requests itself and exits (used by the tests).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../server/config.ts';
import { startGateway } from '../server/gateway.ts';
import { readCsvTable, csvText, writeFileAtomic } from '../server/keys/csv-table.ts';
import { KEY_COLUMNS } from '../server/keys/rows.ts';
import { createLogger } from '../server/log.ts';
import { startFakeVllm } from './fake-vllm.ts';

const DEMO_CLIENT = 'demo';

/** The demo key from the file, created (file and key) when missing. The file gets mode 0600. */
async function demoKey(path: string): Promise<string> {
  const rows = existsSync(path) ? await readCsvTable(path) : [];
  const header = (rows[0] ?? []).map((h) => h.trim().toLowerCase());
  const keyCol = header.indexOf('api_key');
  const nameCol = header.indexOf('client_name');
  const activeCol = header.indexOf('is_active');
  const found = rows.slice(1).find((r) => r[nameCol] === DEMO_CLIENT && /^true$/i.test(r[activeCol] ?? ''));
  if (keyCol >= 0 && found?.[keyCol]) return found[keyCol]!;

  const key = `sk-convergence-${randomUUID()}`;
  const row = { api_key: key, client_name: DEMO_CLIENT, created_at: new Date().toISOString(), expires_at: '', is_active: 'TRUE', rate_limit: '60' };
  const table = rows.length ? rows : [[...KEY_COLUMNS]];
  const names = (table[0] ?? []).map((h) => h.trim().toLowerCase());
  table.push(names.map((n) => (row as Record<string, string>)[n] ?? ''));
  await writeFileAtomic(path, csvText(table));
  process.stdout.write(`Created ${path} with a demo key (mode 0600).\n`);
  return key;
}

function examples(url: string, key: string): string {
  const body = JSON.stringify({ model: 'demo-model', messages: [{ role: 'user', content: 'Hello!' }] });
  const sdk = [
    "import OpenAI from 'openai';",
    `const client = new OpenAI({ baseURL: '${url}/v1', apiKey: '${key}' });`,
    "const stream = await client.chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'Hello!' }], stream: true });",
    "for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? '');",
    'console.log();',
  ].join(' ');
  return [
    '',
    `convergence-gateway demo: gateway ${url} -> stand-in vLLM, keys from the key file`,
    '',
    'curl:',
    `  curl -s ${url}/v1/chat/completions -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" -d '${body}'`,
    '',
    'OpenAI SDK for Node (run in this folder; streams the answer):',
    `  node --input-type=module -e "${sdk}"`,
    '',
    'OpenAI SDK for Python (pip install openai):',
    `  python3 -c "from openai import OpenAI; c = OpenAI(base_url='${url}/v1', api_key='${key}'); print(c.chat.completions.create(model='demo-model', messages=[{'role': 'user', 'content': 'Hello!'}]).choices[0].message.content)"`,
    '',
    `Without a key you get 401: curl -i ${url}/v1/models`,
    `Gateway status:           curl -s ${url}/auth/status`,
    '',
    'Ctrl-C stops both.',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'self-test': { type: 'boolean', default: false } } });
  const keysFile = resolve(process.env.KEYS_FILE ?? 'keys.csv');
  const key = await demoKey(keysFile);
  const upstreamPort = Number(process.env.DEMO_UPSTREAM_PORT ?? (values['self-test'] ? 0 : 8080));
  const vllm = await startFakeVllm({ port: upstreamPort, chunkDelayMs: 30 });
  const config = loadConfig({ ...process.env, KEYS_FILE: keysFile, UPSTREAM_URL: vllm.url, GOOGLE_SHEET_ID: '', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const gateway = await startGateway(config, createLogger(config.LOG_LEVEL));
  await gateway.ready;
  const url = gateway.url;
  process.stdout.write(examples(url, key));

  const stop = async (): Promise<void> => {
    await gateway.close();
    await vllm.close();
  };
  if (values['self-test']) {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'demo-model', messages: [{ role: 'user', content: 'Hello!' }] }),
    });
    const answer = (await res.json()) as { choices?: Array<{ message: { content: string } }> };
    process.stdout.write(`self-test: ${res.status} ${answer.choices?.[0]?.message.content ?? JSON.stringify(answer)}\n`);
    await stop();
    process.exit(res.status === 200 ? 0 : 1);
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop().then(() => process.exit(0)));
}

main().catch((err: Error & { code?: string }) => {
  const hint = err.code === 'EADDRINUSE' ? ' (set PORT or DEMO_UPSTREAM_PORT to free ports)' : '';
  process.stderr.write(`demo failed: ${err.message}${hint}\n`);
  process.exit(1);
});
