/**
 * The scenarios' client: raw HTTP to the gateway (so bodies and paths go out byte for byte), with
 * a tally of answers by status and error code and of the tokens the answers reported.
 */
import { request } from 'node:http';
import { KEY } from './parts.ts';

export interface Answer {
  status: number;
  /** `error.code` of a JSON error answer, or '' */
  code: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The connection failed or was cut before the answer ended. */
  cut: boolean;
}

export interface SendOptions {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  /** Called with the text received so far (streams). */
  onData?: (text: string) => void;
  /** Give up (destroy the request) after this long. */
  timeoutMs?: number;
}

export function send(url: string, body: Buffer | string | null, opts: SendOptions = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { authorization: `Bearer ${KEY}`, ...opts.headers };
    if (body !== null) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    let settled = false;
    const finish = (a: Answer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(a);
    };
    const req = request(`${url}${opts.path ?? '/v1/chat/completions'}`, { method: opts.method ?? (body === null ? 'GET' : 'POST'), headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        opts.onData?.(text);
      });
      const done = (cut: boolean) => (): void => finish({ status: res.statusCode ?? 0, code: errorCode(text), headers: res.headers, body: text, cut });
      res.on('end', done(false));
      res.on('error', done(true));
      res.on('close', done(!res.complete));
    });
    const timer = setTimeout(() => req.destroy(new Error('client timeout')), opts.timeoutMs ?? 60_000);
    req.on('error', (err) => finish({ status: 0, code: err.message, headers: {}, body: '', cut: true }));
    req.end(body ?? undefined);
  });
}

function errorCode(text: string): string {
  if (!text.startsWith('{')) return '';
  try {
    return String((JSON.parse(text) as { error?: { code?: unknown } }).error?.code ?? '');
  } catch {
    return '';
  }
}

export function chatBody(opts: { maxTokens: number; stream?: boolean; words?: number }): string {
  const content = Array.from({ length: opts.words ?? 5 }, (_, i) => `w${i}`).join(' ');
  return JSON.stringify({
    model: 'demo-model',
    messages: [{ role: 'user', content }],
    max_tokens: opts.maxTokens,
    ...(opts.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  });
}

/** Tokens an answer reported in its (last) `usage`, non-streamed or streamed. */
export function reportedUsage(a: Answer): { prompt_tokens: number; completion_tokens: number } | null {
  if (a.status !== 200 || a.cut) return null;
  const texts = a.body.startsWith('{') ? [a.body] : a.body.split('\n').filter((l) => l.startsWith('data: {')).map((l) => l.slice(6));
  for (const t of texts.reverse()) {
    try {
      const u = (JSON.parse(t) as { usage?: { prompt_tokens: number; completion_tokens: number } }).usage;
      if (u) return { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens };
    } catch {
      // not JSON: skip
    }
  }
  return null;
}

/** Answers counted by status (and error code), with the tokens the served ones reported. */
export class Tally {
  sent = 0;
  served = 0;
  readonly byStatus = new Map<string, number>();
  readonly tokens = { prompt_tokens: 0, completion_tokens: 0 };
  /** 5xx answers other than an upstream fault or gateway_busy, and connection failures: what must not happen. */
  readonly gatewayFaults: string[] = [];

  add(a: Answer): Answer {
    this.sent += 1;
    const label = a.status === 0 ? 'no answer' : a.code ? `${a.status} ${a.code}` : String(a.status);
    this.byStatus.set(label, (this.byStatus.get(label) ?? 0) + 1);
    if (a.status === 200) this.served += 1;
    const u = reportedUsage(a);
    if (u) {
      this.tokens.prompt_tokens += u.prompt_tokens;
      this.tokens.completion_tokens += u.completion_tokens;
    }
    if (a.status === 0 || (a.status >= 500 && !CLEAR_5XX.has(a.code))) this.gatewayFaults.push(`${label}${a.body ? `: ${a.body.slice(0, 160)}` : ''}`);
    return a;
  }

  statusLine(): string {
    return [...this.byStatus.entries()].sort().map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
  }
}

/** 5xx codes that are clear answers: the model server's faults, and the body budget's back-off. */
export const CLEAR_5XX = new Set(['upstream_unavailable', 'upstream_timeout', 'gateway_busy']);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
