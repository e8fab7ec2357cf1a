// In-memory MailApp: records what would be sent, refuses what Apps Script would refuse.

export interface SentMail {
  to: string;
  subject: string;
  body: string;
}

const EMAIL = /^[^\s@,;]+@[^\s@,;]+\.[^\s@,;]+$/;

export function fakeMailApp(dailyQuota = 100) {
  const sent: SentMail[] = [];
  return {
    sent,
    getRemainingDailyQuota: () => dailyQuota - sent.length,
    /** sendEmail(recipient, subject, body[, options]) or sendEmail({ to, subject, body }). */
    sendEmail(...args: unknown[]): void {
      const message = typeof args[0] === 'object' && args[0] !== null
        ? (args[0] as Record<string, unknown>)
        : { to: args[0], subject: args[1], body: args[2] };
      const to = String(message.to ?? '');
      if (!to.split(',').every((address) => EMAIL.test(address.trim()))) throw new Error(`Invalid email: ${to}`);
      if (sent.length >= dailyQuota) throw new Error('Service invoked too many times for one day: email.');
      sent.push({ to, subject: String(message.subject ?? ''), body: String(message.body ?? '') });
    },
  };
}
