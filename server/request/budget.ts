import { GatewayError } from '../errors.ts';

/** How long a body waits for room in the budget before the gateway answers 503 gateway_busy. */
export const BUFFER_WAIT_MS = 2_000;

interface Waiter {
  bytes: number;
  wake: () => void;
}

/**
 * One byte budget (MAX_BUFFERED_BYTES) for every request body the gateway holds to inspect, so
 * memory stays bounded whatever the clients send at once. A body takes its bytes before it is
 * read and gives them back when its request ends; one that finds no room waits (in order) for a
 * short while, then is refused.
 */
export class BufferBudget {
  private used = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    readonly capacity: number,
    private readonly waitMs = BUFFER_WAIT_MS,
  ) {}

  /** Bytes held right now. */
  get held(): number {
    return this.used;
  }

  /** Takes `bytes`, waiting for room; returns the function that gives them back (idempotent). */
  async take(bytes: number): Promise<() => void> {
    if (bytes > this.capacity) throw busy();
    // Waking a waiter takes its bytes for it, so nobody overtakes it between wake and resume.
    if (this.waiters.length > 0 || this.used + bytes > this.capacity) await this.wait(bytes);
    else this.used += bytes;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.used -= bytes;
      this.wakeWaiters();
    };
  }

  private wait(bytes: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        wake: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        this.wakeWaiters();
        reject(busy());
      }, this.waitMs);
      this.waiters.push(waiter);
    });
  }

  private wakeWaiters(): void {
    // First come, first served: a big body at the head is not overtaken by small ones forever.
    while (this.waiters.length > 0 && this.used + this.waiters[0]!.bytes <= this.capacity) {
      const w = this.waiters.shift()!;
      this.used += w.bytes;
      w.wake();
    }
  }
}

function busy(): GatewayError {
  return new GatewayError('gateway_busy', undefined, { 'Retry-After': '1' });
}
