/**
 * What a VAPID subject may be: the `sub` claim push services use to reach the operator. Read by
 * the configuration (vapid.subject, PUSHCTL_VAPID_SUBJECT) and by key management alike.
 */
import { fail } from '../errors.js';

/**
 * A VAPID subject is a mailto: or https: URL the push service can reach the operator at. Push
 * services (Apple in particular) reject localhost subjects, so those are refused up front. `at`
 * names a configuration key when the subject came from one; otherwise the error is about the
 * `subject` input.
 */
export function validateSubject(subject: string, at?: string): string {
  const where = at === undefined ? { field: 'subject' } : { at };
  const trimmed = subject.trim();
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw fail('invalid_input', `"${subject}" is not a URL; use mailto:you@example.com or https://example.com`, where);
  }
  if (url.protocol === 'mailto:') {
    const domain = url.pathname.split('@')[1] ?? '';
    if (!url.pathname.includes('@') || !domain) {
      throw fail('invalid_input', `"${subject}" needs an address, like mailto:you@example.com`, where);
    }
    if (isLocalHost(domain)) {
      throw fail('invalid_input', `"${subject}" points at a local host; push services (Apple's among them) reject localhost subjects. Use a real address.`, where);
    }
    return trimmed;
  }
  if (url.protocol === 'https:') {
    if (isLocalHost(url.hostname)) {
      throw fail('invalid_input', `"${subject}" points at a local host; push services (Apple's among them) reject localhost subjects. Use your site's public URL.`, where);
    }
    return trimmed;
  }
  throw fail('invalid_input', `"${subject}" must be a mailto: or https: URL`, where);
}

function isLocalHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || h.endsWith('.local') || h === '::1' || h.startsWith('127.') || h === '0.0.0.0';
}
