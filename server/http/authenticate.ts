import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { verifyKey } from '../keys/verify.ts';
import { encodeClientName } from './client-name.ts';
import { presentedKey } from './credentials.ts';
import { GatewayError } from '../errors.ts';
import type { AuthState, RequestState } from './state.ts';

/** Checks the client key on every proxied request; open and disabled modes let everyone through. */
export function authenticate(auth: AuthState, log: Logger, now: () => number) {
  // Checked once: the per-request decision log costs an object even when debug is off.
  const debug = log.isLevelEnabled('debug');
  // Not async: Koa turns a synchronous throw into a rejection, and an async function would add a
  // promise and a microtask turn to every request only to wrap next()'s.
  return function authenticateMiddleware(ctx: Context, next: Next): Promise<void> {
    if (auth.store === null) return next();
    const key = presentedKey(ctx.req.headers);
    if (key === null) {
      log.debug('auth: no credentials');
      throw new GatewayError('missing_api_key', undefined, { 'WWW-Authenticate': 'Bearer' });
    }
    const keys = auth.store.keys();
    if (keys === null) throw new GatewayError('key_store_unavailable');
    const verdict = verifyKey(keys, key, now());
    const state = ctx.state as RequestState;
    if (!verdict.ok) {
      state.keyId = verdict.keyId;
      log.debug({ key_id: verdict.keyId, decision: verdict.code }, 'auth: denied');
      throw new GatewayError(verdict.code);
    }
    state.key = verdict.record;
    if (debug) log.debug({ key_id: verdict.record.keyId, decision: 'allowed' }, 'auth: allowed');
    // Not ctx.set: a header set on the response before the proxy's writeHead would push it onto
    // Node's slow path, a setHeader per upstream header (see RequestState.answerHeaders).
    state.answerHeaders = { 'X-Client-Name': encodeClientName(verdict.record.clientName) };
    return next();
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Guards /admin/*: ADMIN_API_KEY must be set and presented; compared in constant time. */
export function requireAdmin(adminKey: string | undefined) {
  const expected = adminKey ? digest(adminKey) : null;
  return async function requireAdminMiddleware(ctx: Context, next: Next): Promise<void> {
    if (expected === null) throw new GatewayError('admin_disabled');
    const key = presentedKey(ctx.req.headers);
    if (key === null || !timingSafeEqual(digest(key), expected)) throw new GatewayError('invalid_admin_key');
    return next();
  };
}
