// The Generate key dialog: one form, validated as the admin submits it (the same rules as
// the server, see key-form.ts), then the new key shown once in the same dialog. Keyboard
// only works: Tab order is the reading order, Enter submits, Escape closes; every field has
// a label, and its hint and error are tied to it with aria-describedby.

import { escapeHtml } from './dialog.ts';
import { checkKeyForm } from './key-form.ts';

export const FORM_WIDTH_PX = 520;
export const FORM_HEIGHT_PX = 600;

export interface FormPage {
  timeZone: string;
  /** YYYY-MM-DD in the sheet's zone: the date picker's first allowed day. */
  today: string;
  defaultRateLimit: number;
  hashed: boolean;
}

/** JSON that can sit inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

interface FieldSpec {
  name: string;
  label: string;
  hint: string;
  input: string;
}

function field(spec: FieldSpec): string {
  const described = `${spec.name}-hint ${spec.name}-error`;
  const input = spec.input.replace('<INPUT', `id="${spec.name}" name="${spec.name}" aria-describedby="${described}"`);
  return `<div class="field">
  <label for="${spec.name}">${spec.label}</label>
  ${input}
  <div class="hint" id="${spec.name}-hint">${spec.hint}</div>
  <div class="error" id="${spec.name}-error"></div>
</div>`;
}

export function keyFormHtml(page: FormPage): string {
  const zone = escapeHtml(page.timeZone);
  const pair = (a: string, b: string) => `<div class="row">\n${a}\n${b}\n</div>`;
  const fields = [
    field({ name: 'client_name', label: 'Client name (required)', hint: 'Who the key is for. Sent back to the client in X-Client-Name.',
      input: '<input <INPUT type="text" autocomplete="off" maxlength="100" aria-required="true" autofocus>' }),
    pair(
      field({ name: 'rate_limit', label: 'Rate limit', hint: `Requests per window. Blank: ${page.defaultRateLimit}.`,
        input: `<input <INPUT type="text" inputmode="numeric" autocomplete="off" placeholder="${page.defaultRateLimit}">` }),
      field({ name: 'expires_at', label: 'Expires', hint: `Valid through that day (${zone}). Blank: never.`,
        input: `<input <INPUT type="date" min="${escapeHtml(page.today)}">` }),
    ),
  ].join('\n');
  const policy = [
    field({ name: 'allowed_models', label: 'Allowed models', hint: 'Comma-separated model names. Blank: any model.',
      input: '<input <INPUT type="text" autocomplete="off">' }),
    pair(
      field({ name: 'tpm_limit', label: 'Token limit per window', hint: 'Prompt + completion tokens. Blank: none.',
        input: '<input <INPUT type="text" inputmode="numeric" autocomplete="off">' }),
      field({ name: 'token_quota', label: 'Token quota', hint: 'Tokens per period, per client. Blank: none.',
        input: '<input <INPUT type="text" inputmode="numeric" autocomplete="off">' }),
    ),
    pair(
      field({ name: 'request_quota', label: 'Request quota', hint: 'Requests per period, per client. Blank: none.',
        input: '<input <INPUT type="text" inputmode="numeric" autocomplete="off">' }),
      field({ name: 'quota_period', label: 'Quota period', hint: `Calendar periods (${zone}); weeks start Monday.`,
        input: '<select <INPUT><option value="month" selected>Month</option><option value="week">Week</option><option value="day">Day</option></select>' }),
    ),
    field({ name: 'contact_email', label: 'Contact email', hint: 'Gets reminders before the key expires or a quota runs out. Blank: nobody.',
      input: '<input <INPUT type="email" autocomplete="off">' }),
  ].join('\n');
  const hashedNote = page.hashed
    ? '<p class="note">Store only key hashes is on: the sheet keeps only the key\'s SHA-256 and a hint.</p>'
    : '';
  const config = scriptJson({ today: page.today, defaultRateLimit: page.defaultRateLimit });

  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><base target="_top"><style>
body { font-family: Arial, sans-serif; font-size: 13px; color: #202124; margin: 0 4px; }
.field { margin: 0 0 8px; min-width: 0; }
.row { display: grid; grid-template-columns: 1fr 1fr; gap: 0 12px; }
label { display: block; font-weight: bold; margin-bottom: 2px; }
input, select { width: 100%; box-sizing: border-box; font-size: 13px; padding: 4px 6px; border: 1px solid #80868b; border-radius: 4px; }
input[aria-invalid="true"] { border: 2px solid #c5221f; }
input:focus, select:focus, button:focus, textarea:focus { outline: 2px solid #1a73e8; outline-offset: 1px; }
.hint, .note { color: #5f6368; font-size: 12px; margin-top: 2px; }
.error { color: #c5221f; font-size: 12px; margin-top: 2px; font-weight: bold; }
.error:empty { display: none; }
fieldset { border: 1px solid #dadce0; border-radius: 4px; margin: 4px 0 10px; padding: 6px 10px 0; }
legend { font-weight: bold; padding: 0 4px; }
.buttons { margin-top: 8px; }
button { font-size: 13px; padding: 6px 14px; margin-right: 6px; }
button.primary { background: #1a73e8; color: #fff; border: 1px solid #1a73e8; border-radius: 4px; }
#form-error { color: #c5221f; font-weight: bold; }
#form-error:empty { display: none; }
textarea { width: 100%; box-sizing: border-box; font: 14px monospace; resize: none; }
[hidden] { display: none !important; }
</style></head><body>
<form id="key-form" novalidate>
${fields}
<fieldset>
<legend>Optional policy</legend>
${policy}
</fieldset>
${hashedNote}
<div id="form-error" role="alert"></div>
<div class="buttons"><button type="submit" class="primary" id="create">Create key</button><button type="button" id="cancel">Cancel</button></div>
</form>
<section id="result" hidden aria-labelledby="result-title">
<h2 id="result-title" tabindex="-1">New API key</h2>
<div id="result-lines"></div>
<label for="key">The new key, shown only this once</label>
<textarea id="key" rows="2" readonly></textarea>
<p><button type="button" id="copy">Copy key</button> <span id="copy-status" role="status" aria-live="polite"></span></p>
<p class="note">Copy it now and hand it to the client privately: this dialog does not come back.</p>
<p><button type="button" id="done">Done</button></p>
</section>
<script>
(function () {
  var CONFIG = ${config};
  var checkKeyForm = (${checkKeyForm.toString()});
  var FIELDS = ['client_name', 'rate_limit', 'expires_at', 'allowed_models', 'tpm_limit', 'token_quota', 'request_quota', 'quota_period', 'contact_email'];
  var form = document.getElementById('key-form');
  var createButton = document.getElementById('create');
  var formError = document.getElementById('form-error');
  var keyField = document.getElementById('key');
  var copyStatus = document.getElementById('copy-status');
  var busy = false;

  // Closing while the key is being created would lose it: the row lands, the key is never shown.
  function close() { if (!busy) google.script.host.close(); }
  function values() {
    var out = {};
    FIELDS.forEach(function (name) { out[name] = String(form.elements[name].value); });
    return out;
  }
  /** Shows each field's error beside it; focuses the first bad field. Returns whether all are good. */
  function showErrors(errors) {
    var first = null;
    FIELDS.forEach(function (name) {
      var input = document.getElementById(name);
      var message = errors[name] || '';
      document.getElementById(name + '-error').textContent = message;
      if (message) { input.setAttribute('aria-invalid', 'true'); first = first || input; }
      else input.removeAttribute('aria-invalid');
    });
    if (first) first.focus();
    return !first;
  }
  function setBusy(on) {
    busy = on;
    createButton.disabled = on;
    createButton.textContent = on ? 'Creating...' : 'Create key';
  }
  function showKey(result) {
    form.hidden = true;
    document.getElementById('result').hidden = false;
    document.getElementById('result-title').textContent = result.title;
    var lines = document.getElementById('result-lines');
    result.lines.forEach(function (line) {
      var p = document.createElement('p');
      p.textContent = line;
      lines.appendChild(p);
    });
    keyField.value = result.key;
    keyField.focus();
    keyField.select();
  }
  function copied() { copyStatus.textContent = 'Copied.'; }
  function manual() { copyStatus.textContent = 'Press Ctrl+C (Cmd+C on a Mac) to copy.'; }
  function legacyCopy() { try { return document.execCommand('copy'); } catch (e) { return false; } }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    if (busy) return;
    formError.textContent = '';
    var sent = values();
    if (!showErrors(checkKeyForm(sent, CONFIG.today, CONFIG.defaultRateLimit).errors)) return;
    setBusy(true);
    google.script.run
      .withSuccessHandler(function (result) {
        setBusy(false);
        if (result && result.ok) showKey(result);
        else showErrors((result && result.errors) || {});
      })
      .withFailureHandler(function (error) {
        setBusy(false);
        formError.textContent = (error && error.message) || String(error);
      })
      .createKeyFromForm(sent);
  });
  document.getElementById('cancel').addEventListener('click', close);
  document.getElementById('done').addEventListener('click', close);
  document.getElementById('copy').addEventListener('click', function () {
    keyField.focus();
    keyField.select();
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(keyField.value).then(copied, function () { if (legacyCopy()) copied(); else manual(); });
    } else if (legacyCopy()) { copied(); } else { manual(); }
  });
  document.addEventListener('keydown', function (event) {
    if (event.key === 'Escape') { event.preventDefault(); close(); }
  });
  document.getElementById('client_name').focus();
})();
</script>
</body></html>`;
}
