// Data validation and the grey-out rule of the keys tab. Both replace what they set last
// time, so Set up sheet can run any number of times.

import { columnLetter, type Columns } from './columns.ts';
import { HASH_HEADER } from './config.ts';

type Sheet = GoogleAppsScript.Spreadsheet.Sheet;

/** Tags our conditional-format rule (N(text) is 0) so a rerun finds and replaces it. */
const GREY_RULE_TAG = 'convergence-gateway:inactive-or-expired';
const GREY_BACKGROUND = '#e0e0e0';
const GREY_TEXT = '#757575';

function column(columns: Columns, name: string): number {
  const found = columns.get(name);
  if (found === undefined) throw new Error(`The keys tab has no ${name} column.`);
  return found;
}

/** Checkbox on is_active, whole number >= 1 on rate_limit, date on expires_at, for every row below the header. */
export function applyKeyValidation(sheet: Sheet, columns: Columns): void {
  const rows = sheet.getMaxRows() - 1;
  if (rows < 1) return;
  const below = (name: string) => sheet.getRange(2, column(columns, name), rows, 1);
  const limit = `${columnLetter(column(columns, 'rate_limit'))}2`;
  below('is_active').setDataValidation(SpreadsheetApp.newDataValidation().requireCheckbox().build());
  below('rate_limit').setDataValidation(
    SpreadsheetApp.newDataValidation()
      .requireFormulaSatisfied(`=AND(ISNUMBER(${limit}), ${limit}>=1, ${limit}=INT(${limit}))`)
      .setAllowInvalid(false)
      .setHelpText('Requests per window: a whole number, at least 1. Blank: the gateway default.')
      .build(),
  );
  below('expires_at').setDataValidation(
    SpreadsheetApp.newDataValidation()
      .requireDate()
      .setAllowInvalid(false)
      .setHelpText("A date, or a date and time, in the spreadsheet's time zone. Blank: never expires.")
      .build(),
  );
}

/**
 * The formula that is true on a key row the gateway refuses: inactive (is_active not
 * true/yes/1, as the gateway reads it) or expired (a date alone lasts through its day; a
 * text expiry counts too).
 */
function greyFormula(columns: Columns): string {
  const ref = (name: string) => `$${columnLetter(column(columns, name))}2`;
  const keyCells = columns.has(HASH_HEADER) ? `${ref('api_key')}&${ref(HASH_HEADER)}` : ref('api_key');
  const active = `LOWER(TRIM(${ref('is_active')}&""))`;
  const expires = ref('expires_at');
  const inactive = `AND(${active}<>"true", ${active}<>"yes", ${active}<>"1")`;
  // A date cell or serial as it is; text (2020-01-01 12:00, 2020-01-01T12:00, 43831.5) through
  // VALUE, as the gateway reads text too. A whole number is a date alone, valid through its day.
  // Text VALUE cannot read (an offset, say) is not greyed: the grey means "certainly refused".
  const serial = `IF(ISNUMBER(${expires}), ${expires}, VALUE(SUBSTITUTE(TRIM(${expires}), "T", " ")))`;
  const expired = `IFERROR(AND(LEN(TRIM(${expires}&""))>0, IF(${serial}=INT(${serial}), ${serial}+1, ${serial})<=NOW()), FALSE)`;
  return `=AND(N("${GREY_RULE_TAG}")=0, LEN(${keyCells})>0, OR(${inactive}, ${expired}))`;
}

function isGreyRule(rule: GoogleAppsScript.Spreadsheet.ConditionalFormatRule): boolean {
  const condition = rule.getBooleanCondition();
  return !!condition && condition.getCriteriaValues().some((value) => String(value).includes(GREY_RULE_TAG));
}

/** Replaces our grey-out rule (other rules stay), over every row and column below the header. */
export function applyGreyRule(sheet: Sheet, columns: Columns): void {
  const rows = sheet.getMaxRows() - 1;
  if (rows < 1) return;
  const rule = SpreadsheetApp.newConditionalFormatRule()
    .whenFormulaSatisfied(greyFormula(columns))
    .setBackground(GREY_BACKGROUND)
    .setFontColor(GREY_TEXT)
    .setRanges([sheet.getRange(2, 1, rows, sheet.getMaxColumns())])
    .build();
  const others = sheet.getConditionalFormatRules().filter((existing) => !isGreyRule(existing));
  sheet.setConditionalFormatRules([...others, rule]);
}

/**
 * Re-aims our grey-out rule at `columns` if the sheet has one (an admin who never ran Set up
 * sheet gets none). Needed once api_key_sha256 appears: a rule made before it existed only
 * looks at api_key and would never grey a hashed row.
 */
export function refreshGreyRule(sheet: Sheet, columns: Columns): void {
  if (sheet.getConditionalFormatRules().some(isGreyRule)) applyGreyRule(sheet, columns);
}
