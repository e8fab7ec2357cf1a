// The dialog that shows the key Rotate made (Generate key shows its key in its own form,
// form-html.ts). Everything interpolated is escaped.

import { maskKey } from './cells.ts';

const DIALOG_WIDTH_PX = 480;
const DIALOG_HEIGHT_PX = 300;

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

function keyDialogHtml(key: string, lines: readonly string[]): string {
  const paragraphs = lines.map((line) => `<p>${escapeHtml(line)}</p>`).join('\n');
  return `<!DOCTYPE html>
<html><head><base target="_top"><style>
body { font-family: Arial, sans-serif; font-size: 13px; }
textarea { width: 100%; box-sizing: border-box; font: 14px monospace; resize: none; }
.note { color: #5f6368; }
</style></head><body>
${paragraphs}
<textarea id="key" rows="2" readonly aria-label="The new key">${escapeHtml(key)}</textarea>
<p><button id="copy">Copy key</button> <span id="copy-status" role="status" aria-live="polite"></span></p>
<p class="note">Copy it now and hand it to the client privately: this dialog does not come back.</p>
<p><button id="done">Done</button></p>
<script>
// Wrapped: at the top level, \`var status\` would be window.status, which only holds a string.
(function () {
var field = document.getElementById('key');
var copyStatus = document.getElementById('copy-status');
function selectKey() { field.focus(); field.select(); }
function copied() { copyStatus.textContent = 'Copied.'; }
function manual() { copyStatus.textContent = 'Press Ctrl+C (Cmd+C on a Mac) to copy.'; }
function legacyCopy() { try { return document.execCommand('copy'); } catch (e) { return false; } }
document.getElementById('copy').onclick = function () {
  selectKey();
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(field.value).then(copied, function () { legacyCopy() ? copied() : manual(); });
  } else if (legacyCopy()) { copied(); } else { manual(); }
};
document.getElementById('done').onclick = function () { google.script.host.close(); };
field.onfocus = selectKey;
selectKey();
})();
</script>
</body></html>`;
}

export function showKeyDialog(ui: GoogleAppsScript.Base.Ui, title: string, key: string, lines: readonly string[]): void {
  const output = HtmlService.createHtmlOutput(keyDialogHtml(key, lines)).setWidth(DIALOG_WIDTH_PX).setHeight(DIALOG_HEIGHT_PX);
  ui.showModalDialog(output, title);
}

/** The dialog line for a key stored hashed: it can never be shown again. */
export function hashedKeyNote(key: string): string {
  return `The sheet keeps only this key's SHA-256 (api_key_sha256) and the hint ${maskKey(key)}: nobody can see the key again, not even you.`;
}
