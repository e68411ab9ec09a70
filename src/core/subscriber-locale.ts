/**
 * A subscriber's time zone and language, as the browser reports them
 * (`Intl.DateTimeFormat().resolvedOptions().timeZone`, `navigator.language`): checked and put in
 * canonical form once, here, for every way they arrive (the receiver, imports, `subscriptions
 * update`). Local-time delivery and quiet hours read the zone; the language is kept for the
 * operator (and for messages per language later).
 */
import { IANAZone } from 'luxon';
import { fail } from '../errors.js';
import { MAX_LANGUAGE_LENGTH, MAX_TIME_ZONE_LENGTH as MAX_ZONE_LENGTH } from '../limits.js';
import { canonicalZone } from './schedule-time.js';

export { MAX_LANGUAGE_LENGTH } from '../limits.js';

/** `field` is neutral (timeZone, language); `at` a place in a document ("line 3"), if any. */
const invalid = (field: string, at: string | undefined, message: string) => fail('invalid_input', message, { field, at });

/**
 * An IANA zone name ("Europe/Berlin", "UTC") in canonical spelling; null for null or "".
 */
export function validateTimeZone(value: unknown, field: string, at?: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw invalid(field, at, 'must be an IANA time zone name like Europe/Berlin, or null');
  const text = value.trim();
  if (text === '') return null;
  // Names only: IANA zones never start with a sign or digit ("+02:00" is an offset, not a zone).
  if (text.length > MAX_ZONE_LENGTH || !/^[A-Za-z]/.test(text) || !IANAZone.isValidZone(text)) {
    throw invalid(field, at, `"${shorten(text)}" is not a known IANA time zone; use a name like Europe/Berlin, America/New_York or UTC`);
  }
  return canonicalZone(text);
}

/** A BCP 47 language tag ("de", "en-US", "zh-Hant-TW") in canonical form; null for null or "". */
export function validateLanguage(value: unknown, field: string, at?: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw invalid(field, at, 'must be a BCP 47 language tag like en-US, or null');
  const text = value.trim();
  if (text === '') return null;
  let canonical: string | undefined;
  if (text.length <= MAX_LANGUAGE_LENGTH) {
    try {
      canonical = Intl.getCanonicalLocales(text)[0];
    } catch {
      canonical = undefined;
    }
  }
  if (!canonical) throw invalid(field, at, `"${shorten(text)}" is not a BCP 47 language tag; use one like en, en-US or pt-BR`);
  return canonical;
}

function shorten(text: string): string {
  return text.length > 70 ? `${text.slice(0, 67)}...` : text;
}
