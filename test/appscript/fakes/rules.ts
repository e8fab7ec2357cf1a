// Builders for data validation and conditional format rules, keeping what the script set.

export interface FakeValidation {
  criteria: string;
  values: unknown[];
  allowInvalid: boolean;
  helpText: string;
  getCriteriaType(): string;
  getCriteriaValues(): unknown[];
  getAllowInvalid(): boolean;
  getHelpText(): string;
}

export class FakeDataValidationBuilder {
  private criteria = '';
  private values: unknown[] = [];
  private allowInvalid = true;
  private helpText = '';
  private require(criteria: string, values: unknown[] = []) {
    this.criteria = criteria;
    this.values = values;
    return this;
  }
  requireCheckbox() { return this.require('CHECKBOX'); }
  requireDate() { return this.require('DATE_IS_VALID_DATE'); }
  requireFormulaSatisfied(formula: string) { return this.require('CUSTOM_FORMULA', [formula]); }
  requireNumberGreaterThan(n: number) { return this.require('NUMBER_GREATER_THAN', [n]); }
  setAllowInvalid(allow: boolean) { this.allowInvalid = allow; return this; }
  setHelpText(text: string) { this.helpText = text; return this; }
  build(): FakeValidation {
    if (!this.criteria) throw new Error('fake: a data validation rule needs criteria');
    const { criteria, values, allowInvalid, helpText } = this;
    return Object.freeze({
      criteria, values, allowInvalid, helpText,
      getCriteriaType: () => criteria,
      getCriteriaValues: () => [...values],
      getAllowInvalid: () => allowInvalid,
      getHelpText: () => helpText,
    });
  }
}

export interface FakeConditionalRule {
  formula: string;
  background: string | null;
  fontColor: string | null;
  ranges: { row: number; column: number; rows: number; columns: number }[];
  getBooleanCondition(): { getCriteriaType(): string; getCriteriaValues(): unknown[] } | null;
  getRanges(): unknown[];
}

export class FakeConditionalFormatRuleBuilder {
  private formula: string | null = null;
  private background: string | null = null;
  private fontColor: string | null = null;
  private ranges: { getRow(): number; getColumn(): number; getNumRows(): number; getNumColumns(): number }[] = [];
  whenFormulaSatisfied(formula: string) { this.formula = formula; return this; }
  setBackground(color: string) { this.background = color; return this; }
  setFontColor(color: string) { this.fontColor = color; return this; }
  setRanges(ranges: FakeConditionalFormatRuleBuilder['ranges']) { this.ranges = [...ranges]; return this; }
  build(): FakeConditionalRule {
    const { formula, background, fontColor, ranges } = this;
    if (formula === null || ranges.length === 0) throw new Error('fake: a conditional format rule needs a condition and ranges');
    return {
      formula, background, fontColor,
      ranges: ranges.map((r) => ({ row: r.getRow(), column: r.getColumn(), rows: r.getNumRows(), columns: r.getNumColumns() })),
      getBooleanCondition: () => ({ getCriteriaType: () => 'CUSTOM_FORMULA', getCriteriaValues: () => [formula] }),
      getRanges: () => [...ranges],
    };
  }
}

/** A rule someone made by hand: a colour scale has no boolean condition. */
export function colourScaleRule(): FakeConditionalRule {
  return { formula: '', background: null, fontColor: null, ranges: [], getBooleanCondition: () => null, getRanges: () => [] };
}
