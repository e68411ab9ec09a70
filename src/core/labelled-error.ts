/** An input error whose label is a flag ("--cap") or a field ("line 3: timeZone", "push.quietHours"). */
import { inputError, type PushctlError } from '../errors.js';

export function labelledInputError(label: string, message: string): PushctlError {
  const field = label.replace(/^.*: /, '');
  return inputError(`${label}: ${message}`, field.startsWith('--') ? { flag: field, field } : { field });
}
