import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.ts';

/** Thrown when the client goes away while its body is being read. */
export class ClientGone extends Error {}

/** The 413 answer for a body over `limit` bytes. */
export function bodyTooLarge(limit: number): GatewayError {
  return new GatewayError('request_too_large', `Request body is larger than ${limit} bytes.`);
}

/** Refuses a declared body over the limit before any of it is read or forwarded. */
export function checkDeclaredLength(req: IncomingMessage, limit: number): void {
  if (Number(req.headers['content-length'] ?? 0) > limit) throw bodyTooLarge(limit);
}

/**
 * Reads the rest of `req` into `body`; resolves with the bytes it sent (more than fit are
 * counted, not copied). With listeners, not `for await`: the async iterator costs a generator,
 * a promise per chunk and stream-finished listeners on every request (docs/performance.md).
 */
function readInto(req: IncomingMessage, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    if (req.readableEnded) return resolve(0);
    if (req.destroyed) return reject(new ClientGone());
    let size = 0;
    const onData = (chunk: Buffer): void => {
      chunk.copy(body, size);
      size += chunk.length;
    };
    const onEnd = (): void => {
      cleanup();
      resolve(size);
    };
    const onGone = (): void => {
      cleanup();
      reject(new ClientGone());
    };
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onGone);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    req.on('close', onGone);
  });
}

/** Room for one body taken from a BufferBudget (see budget.ts), kept apart so body.ts stays I/O only. */
export interface ByteBudget {
  take(bytes: number): Promise<() => void>;
}

export interface HeldBody {
  body: Buffer;
  /** Gives the body's bytes back to the budget; call once the request is over. */
  release: () => void;
}

/**
 * Reads a body whole, its bytes counted against `budget` before they are held: a declared
 * length is taken at once (and read into one buffer, no copy), a chunked body chunk by chunk
 * (reading pauses while it waits for room). 413 past `limit`; ClientGone if the client leaves.
 */
export async function readBodyWithin(req: IncomingMessage, limit: number, budget: ByteBudget): Promise<HeldBody> {
  checkDeclaredLength(req, limit);
  const releases: Array<() => void> = [];
  const release = (): void => {
    for (const r of releases.splice(0)) r();
  };
  try {
    const declared = req.headers['content-length'] !== undefined ? Number(req.headers['content-length']) : null;
    if (declared !== null) {
      releases.push(await budget.take(declared));
      const body = Buffer.allocUnsafe(declared);
      if ((await readInto(req, body)) !== declared) throw new ClientGone();
      return { body, release };
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        req.resume();
        throw bodyTooLarge(limit);
      }
      releases.push(await budget.take(chunk.length));
      chunks.push(chunk);
    }
    return { body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), release };
  } catch (err) {
    release();
    if (err instanceof GatewayError || err instanceof ClientGone) throw err;
    throw new ClientGone(); // the stream broke off: aborted or reset by the client
  }
}
