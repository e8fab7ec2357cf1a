import type { BodyTap } from '../upstream/proxy.ts';

/** Narrows a `GET /v1/models` answer to the models a key may use (the list is small: held whole). */
export class ModelListFilter implements BodyTap {
  readonly rewrites = true;
  private chunks: Buffer[] = [];

  constructor(private readonly allowed: ReadonlySet<string>) {}

  chunk(data: Buffer): Buffer {
    this.chunks.push(data);
    return Buffer.alloc(0);
  }

  end(): Buffer {
    const raw = Buffer.concat(this.chunks);
    try {
      const list = JSON.parse(raw.toString('utf8')) as { data?: Array<{ id?: unknown }> };
      if (!Array.isArray(list.data)) return raw;
      list.data = list.data.filter((m) => typeof m.id === 'string' && this.allowed.has(m.id));
      return Buffer.from(JSON.stringify(list));
    } catch {
      return Buffer.from(JSON.stringify({ object: 'list', data: [] }));
    }
  }
}
