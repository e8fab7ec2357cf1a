// What the Sheets API's values.get returns for a tab, with valueRenderOption=UNFORMATTED_VALUE
// and dateTimeRenderOption=SERIAL_NUMBER: booleans and numbers as such, dates as serial
// numbers in the spreadsheet's time zone, text as strings; trailing empty cells and rows left out.

import type { FakeSheet } from './fakes/spreadsheet.ts';
import { isDate, toSerial } from './fakes/values.ts';

export function unformattedValues(sheet: FakeSheet, timeZone: string): unknown[][] {
  const rows = sheet.rows().map((row) => {
    const cells = row.map((value) => (isDate(value) ? toSerial(value, timeZone) : value));
    while (cells.length > 0 && cells[cells.length - 1] === '') cells.pop();
    return cells;
  });
  while (rows.length > 0 && rows[rows.length - 1]!.length === 0) rows.pop();
  return rows;
}
