/** A1 reference to a whole tab: quoted, with quotes doubled, so any tab name is safe. */
export function tabRange(tab: string, cells = ''): string {
  const quoted = `'${tab.replaceAll("'", "''")}'`;
  return cells ? `${quoted}!${cells}` : quoted;
}
