// The rules of the Generate key form, in one self-contained function: the dialog runs its
// source text (Function.prototype.toString) in the browser to show errors as the admin types,
// and createKeyFromForm runs the same function on the server before it writes anything. So it
// may use no imports, no module-level names and no syntax newer than the dialog's browser and
// Apps Script's V8 both read (the build lowers to ES2019; the build test checks).

/** The form's fields, named after the columns; a form sends every one as a string. */
export const FORM_FIELDS = [
  'client_name', 'rate_limit', 'expires_at', 'allowed_models', 'tpm_limit',
  'token_quota', 'request_quota', 'quota_period', 'contact_email',
] as const;
export type FormField = (typeof FORM_FIELDS)[number];
export type KeyForm = Record<FormField, string>;

export interface FormCheck {
  /** Field -> what is wrong with it; empty when the form is good. */
  errors: Partial<Record<FormField, string>>;
  /** The fields trimmed and normalised (blank when not given): what gets written. */
  clean: KeyForm;
}

/**
 * Checks a submitted form. `today` is YYYY-MM-DD in the spreadsheet's time zone; an expiry
 * date before it is past. (The server checks an expiry date-time against the clock as well.)
 */
export function checkKeyForm(form: Record<string, unknown>, today: string, defaultRateLimit: number): FormCheck {
  const errors: Record<string, string> = {};
  const clean: Record<string, string> = {};
  const fields = ['client_name', 'rate_limit', 'expires_at', 'allowed_models', 'tpm_limit', 'token_quota', 'request_quota', 'quota_period', 'contact_email'];
  for (let i = 0; i < fields.length; i++) {
    const raw = form[fields[i] as string];
    clean[fields[i] as string] = typeof raw === 'string' ? raw.trim() : raw === undefined || raw === null ? '' : String(raw).trim();
  }
  const control = /[\u0000-\u001f\u007f]/;
  const wholeNumber = (name: string, what: string) => {
    const text = clean[name] as string;
    if (text === '') return;
    if (!/^\d+$/.test(text) || !(Number(text) >= 1) || Number(text) > 9007199254740991) {
      errors[name] = what + ' must be a whole number of at least 1, not "' + text + '".';
    } else {
      clean[name] = String(Number(text));
    }
  };

  const name = clean.client_name as string;
  if (name === '') errors.client_name = 'A client name is required.';
  else if (name.length > 100) errors.client_name = 'A client name has at most 100 characters (this one has ' + name.length + ').';
  else if ('=+-@'.indexOf(name.charAt(0)) >= 0) errors.client_name = 'A client name cannot start with = + - @ (the sheet would read it as a formula).';
  else if (control.test(name)) errors.client_name = 'A client name cannot contain line breaks or tabs.';

  wholeNumber('rate_limit', 'The rate limit');
  if (clean.rate_limit === '') clean.rate_limit = String(defaultRateLimit);

  const expiry = clean.expires_at as string;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(expiry);
  if (expiry !== '') {
    if (!m) {
      errors.expires_at = 'Pick a date, or type it as YYYY-MM-DD.';
    } else {
      const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
      const real = d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
      const time = m[4] === undefined || (Number(m[4]) < 24 && Number(m[5]) < 60 && Number(m[6] || 0) < 60);
      if (!real || !time) errors.expires_at = expiry + ' is not a real date.';
      else if (expiry.slice(0, 10) < today) errors.expires_at = 'The expiry ' + expiry + ' is already past (today is ' + today + ').';
    }
  }

  const models = clean.allowed_models as string;
  if (models !== '') {
    const list = models.split(',').map((model) => model.trim());
    if (list.some((model) => model === '')) errors.allowed_models = 'The model list has an empty entry: separate model names with single commas.';
    else if (control.test(models)) errors.allowed_models = 'Model names cannot contain line breaks or tabs.';
    else clean.allowed_models = list.join(',');
  }

  wholeNumber('tpm_limit', 'The token limit');
  wholeNumber('token_quota', 'The token quota');
  wholeNumber('request_quota', 'The request quota');

  const period = (clean.quota_period as string).toLowerCase();
  if (period !== '' && period !== 'day' && period !== 'week' && period !== 'month') {
    errors.quota_period = 'The quota period is day, week or month, not "' + clean.quota_period + '".';
  }
  // The period only means something beside a quota; blank means month to the gateway.
  clean.quota_period = clean.token_quota === '' && clean.request_quota === '' ? '' : period || 'month';

  const email = clean.contact_email as string;
  if (email !== '' && (email.length > 254 || !/^[^\s@,;<>"]+@[^\s@,;<>"]+\.[^\s@,;<>"]+$/.test(email))) {
    errors.contact_email = 'The contact email must be one address, like name@example.com.';
  }
  return { errors, clean: clean as KeyForm };
}
