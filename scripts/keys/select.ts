import { InputError } from '../../server/keytable/input.ts';
import type { KeyRowView } from '../../server/keytable/rows.ts';
import { byKeyId, byName } from './context.ts';

export interface Selector {
  name?: string;
  keyId?: string;
}

/** Exactly one of `--name` and `--key-id`. */
export function checkSelector<T extends Selector>(sel: T, command: string): T {
  if ((sel.name === undefined) === (sel.keyId === undefined)) {
    throw new InputError(`${command} needs either --name or --key-id (one of them)`);
  }
  return sel;
}

/** The rows `--name` or `--key-id` names. */
export function select(views: readonly KeyRowView[], sel: Selector, command: string): KeyRowView[] {
  checkSelector(sel, command);
  return sel.name !== undefined ? byName(views, sel.name) : byKeyId(views, sel.keyId!);
}
