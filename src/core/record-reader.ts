/**
 * Reading subscription records from a stream: detects the format from the first line (a JSON
 * array, a JSON object with a `subscriptions` array, or NDJSON) and hands each record's parsed
 * value to a callback with its position, and each unreadable one to another, never holding more
 * than one record's text in memory.
 *
 * NDJSON is split by lines and each line parsed by JSON.parse, so a broken line is one rejected
 * record. JSON documents go through a small scanner written here rather than a streaming-JSON
 * library: it tokenises only the envelope (`[ ... ]` or `{"subscriptions": [ ... ]}`) and finds
 * where each element ends (bracket depth, strings, escapes), then hands the element's text to the
 * native JSON.parse. That keeps parsing at native speed (a char-by-char JS tokenizer such as
 * stream-json builds every value token by token, several times slower) and lets one malformed
 * element be reported and skipped instead of ending the import.
 */
import { fail, type PushctlError } from '../errors.js';

export type ImportFormat = 'ndjson' | 'json-array' | 'json-object' | 'empty';

/** Where a record sits in the input: its line, and for JSON documents its array index. */
export interface RecordPosition {
  line: number;
  index?: number;
}


/** Longest single record (line or array element) accepted, so one runaway value cannot exhaust memory. */
export const MAX_RECORD_CHARS = 1 << 20;

/** "line 7" for NDJSON, "index 3 (line 12)" inside a JSON document. */
export function where(position: RecordPosition): string {
  return position.index === undefined ? `line ${position.line}` : `index ${position.index} (line ${position.line})`;
}

type RecordHandler = (value: unknown, position: RecordPosition) => void;
type BadRecordHandler = (position: RecordPosition, message: string) => void;

/** Detects the format from the first line, then hands chunks to the matching reader. */
export class RecordReader {
  format: ImportFormat = 'empty';
  private head = '';
  private reader: NdjsonReader | JsonDocumentReader | undefined;

  constructor(private readonly onRecord: RecordHandler, private readonly onBad: BadRecordHandler) {}

  feed(chunk: string): void {
    if (this.reader) {
      this.reader.feed(chunk);
      return;
    }
    this.head += chunk;
    this.detect(false);
  }

  end(): void {
    if (!this.reader) this.detect(true);
    this.reader?.end();
  }

  private detect(ended: boolean): void {
    const text = this.head.replace(/^\uFEFF/, '');
    const start = text.search(/\S/);
    if (start < 0) {
      if (ended) this.format = 'empty';
      return;
    }
    const first = text[start];
    if (first === '{') {
      const newline = text.indexOf('\n', start);
      if (newline < 0 && !ended && text.length < MAX_RECORD_CHARS) return;
      const firstLine = (newline < 0 ? text.slice(start) : text.slice(start, newline)).trim();
      this.format = looksLikeDocument(firstLine) ? 'json-object' : 'ndjson';
    } else {
      this.format = first === '[' ? 'json-array' : 'ndjson';
    }
    this.reader = this.format === 'ndjson' ? new NdjsonReader(this.onRecord, this.onBad) : new JsonDocumentReader(this.onRecord, this.onBad);
    this.head = '';
    this.reader.feed(text);
  }
}

/**
 * Is a first line starting with "{" the start of a JSON document (an object with a `subscriptions`
 * array, maybe pretty-printed over many lines) rather than the first NDJSON record?
 */
function looksLikeDocument(firstLine: string): boolean {
  try {
    const value = JSON.parse(firstLine) as unknown;
    return typeof value === 'object' && value !== null && Array.isArray((value as Record<string, unknown>).subscriptions);
  } catch {
    // Incomplete on its own line: a document if the line is a valid beginning of a JSON object.
    const probe = new JsonDocumentReader(() => {}, () => {});
    try {
      probe.feed(firstLine);
      return probe.looksLikeWrapperStart();
    } catch {
      return false;
    }
  }
}

class NdjsonReader {
  private rest = '';
  private line = 0;
  /** Skipping the remainder of an over-long line. */
  private skipping = false;

  constructor(private readonly onRecord: RecordHandler, private readonly onBad: BadRecordHandler) {}

  feed(chunk: string): void {
    const text = this.rest + chunk;
    let start = 0;
    let newline: number;
    while ((newline = text.indexOf('\n', start)) >= 0) {
      this.line++;
      if (this.skipping) this.skipping = false;
      else this.handle(text.slice(start, newline));
      start = newline + 1;
    }
    this.rest = text.slice(start);
    if (this.rest.length > MAX_RECORD_CHARS && !this.skipping) {
      this.onBad({ line: this.line + 1 }, `line ${this.line + 1}: longer than ${MAX_RECORD_CHARS} characters`);
      this.skipping = true;
    }
    if (this.skipping) this.rest = '';
  }

  end(): void {
    if (this.skipping) return;
    if (this.rest.length > 0) {
      this.line++;
      this.handle(this.rest);
      this.rest = '';
    }
  }

  private handle(text: string): void {
    // JSON.parse skips surrounding whitespace (and a CR); only blank lines need a look.
    if (text.length === 0 || (text.charCodeAt(0) <= 32 && text.trim() === '')) return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      this.onBad({ line: this.line }, `line ${this.line}: not JSON (${shortJsonError(error)})`);
      return;
    }
    this.onRecord(value, { line: this.line });
  }
}

const enum State {
  Start,
  ObjectKeyOrEnd,
  ObjectKey,
  InKey,
  Colon,
  ObjectValue,
  ObjectCommaOrEnd,
  ElementOrEnd,
  Element,
  ArrayCommaOrEnd,
  Done,
}

const enum Ch {
  Newline = 10,
  Quote = 34,
  Comma = 44,
  Colon = 58,
  OpenBracket = 91,
  Backslash = 92,
  CloseBracket = 93,
  OpenBrace = 123,
  CloseBrace = 125,
}

/**
 * Streams the elements of `[ ... ]` or of the `subscriptions` array in `{ ..., "subscriptions":
 * [ ... ], ... }`. The envelope is checked token by token; each element (and any other value in
 * the object) is captured as text by bracket depth and parsed with JSON.parse. A structural error
 * in the envelope ends the import with an input error naming the line.
 */
class JsonDocumentReader {
  private buf = '';
  private pos = 0;
  private line = 1;
  private state = State.Start;
  private topLevel: 'array' | 'object' | undefined;
  /** Inside the object: reading the subscriptions array (true) or skipping another value. */
  private inSubscriptions = false;
  private sawSubscriptions = false;
  private key = '';
  private keyEscape = false;
  private index = 0;
  // Capture of one value as text.
  private capturing = false;
  private captureStart = 0;
  private captureLine = 0;
  private depth = 0;
  private inString = false;
  private escape = false;
  private scalar = false;

  constructor(private readonly onRecord: RecordHandler, private readonly onBad: BadRecordHandler) {}

  feed(chunk: string): void {
    this.buf = this.capturing ? this.buf.slice(this.captureStart) + chunk : chunk;
    if (this.capturing) {
      this.pos -= this.captureStart;
      this.captureStart = 0;
    } else {
      this.pos = 0;
    }
    this.scan();
    if (this.capturing && this.pos - this.captureStart > MAX_RECORD_CHARS) {
      throw this.fatal(`a value longer than ${MAX_RECORD_CHARS} characters (line ${this.captureLine}); split the file or use NDJSON`);
    }
  }

  end(): void {
    if (this.capturing && this.scalar) this.finishCapture(this.buf.length);
    if (this.state !== State.Done) throw this.fatal('unexpected end of input: the JSON document is incomplete');
    if (this.topLevel === 'object' && !this.sawSubscriptions) throw this.fatal('the JSON object has no "subscriptions" array');
  }

  private scan(): void {
    const buf = this.buf;
    const length = buf.length;
    let i = this.pos;
    while (i < length) {
      const c = buf.charCodeAt(i);
      if (this.capturing) {
        if (this.scalar) {
          if (c === Ch.Comma || c === Ch.CloseBracket || c === Ch.CloseBrace || isSpace(c)) {
            this.finishCapture(i);
            continue; // the delimiter is handled by the state machine
          }
        } else if (c === Ch.Newline) this.line++;
        else if (this.inString) {
          if (this.escape) this.escape = false;
          else if (c === Ch.Backslash) this.escape = true;
          else if (c === Ch.Quote) {
            this.inString = false;
            if (this.depth === 0) {
              this.finishCapture(i + 1);
              i++;
              continue;
            }
          }
        } else if (c === Ch.Quote) this.inString = true;
        else if (c === Ch.OpenBrace || c === Ch.OpenBracket) this.depth++;
        else if (c === Ch.CloseBrace || c === Ch.CloseBracket) {
          this.depth--;
          if (this.depth === 0) {
            this.finishCapture(i + 1);
            i++;
            continue;
          }
        }
        i++;
        continue;
      }

      if (isSpace(c)) {
        if (c === Ch.Newline) this.line++;
        i++;
        continue;
      }
      switch (this.state) {
        case State.Start:
          if (c === Ch.OpenBracket) {
            this.topLevel = 'array';
            this.state = State.ElementOrEnd;
          } else if (c === Ch.OpenBrace) {
            this.topLevel = 'object';
            this.state = State.ObjectKeyOrEnd;
          } else throw this.unexpected(buf, i, 'expected "[" or "{"');
          break;
        case State.ObjectKeyOrEnd:
        case State.ObjectKey:
          if (c === Ch.Quote) {
            this.state = State.InKey;
            this.key = '';
            this.keyEscape = false;
          } else if (c === Ch.CloseBrace && this.state === State.ObjectKeyOrEnd) this.state = State.Done;
          else throw this.unexpected(buf, i, 'expected a key in double quotes');
          break;
        case State.InKey:
          // Keys are short; read character by character, escapes kept raw (only "subscriptions" matters).
          if (this.keyEscape) {
            this.keyEscape = false;
            this.key += buf[i];
          } else if (c === Ch.Backslash) {
            this.keyEscape = true;
            this.key += '\\';
          } else if (c === Ch.Quote) this.state = State.Colon;
          else if (c === Ch.Newline) throw this.unexpected(buf, i, 'unterminated key');
          else this.key += buf[i];
          break;
        case State.Colon:
          if (c !== Ch.Colon) throw this.unexpected(buf, i, `expected ":" after "${this.key}"`);
          this.state = State.ObjectValue;
          break;
        case State.ObjectValue:
          if (this.key === 'subscriptions') {
            if (c !== Ch.OpenBracket) throw this.unexpected(buf, i, '"subscriptions" must be an array');
            this.sawSubscriptions = true;
            this.inSubscriptions = true;
            this.index = 0;
            this.state = State.ElementOrEnd;
          } else {
            this.inSubscriptions = false;
            this.startCapture(c, i);
            this.state = State.ObjectCommaOrEnd;
            if (!this.scalar) i++;
            continue;
          }
          break;
        case State.ObjectCommaOrEnd:
          if (c === Ch.Comma) this.state = State.ObjectKey;
          else if (c === Ch.CloseBrace) this.state = State.Done;
          else throw this.unexpected(buf, i, 'expected "," or "}"');
          break;
        case State.ElementOrEnd:
        case State.Element:
          if (c === Ch.CloseBracket && this.state === State.ElementOrEnd) {
            this.endArray();
            break;
          }
          if (c === Ch.CloseBracket || c === Ch.Comma) throw this.unexpected(buf, i, 'expected a value');
          this.startCapture(c, i);
          this.state = State.ArrayCommaOrEnd;
          if (!this.scalar) i++;
          continue;
        case State.ArrayCommaOrEnd:
          if (c === Ch.Comma) this.state = State.Element;
          else if (c === Ch.CloseBracket) this.endArray();
          else throw this.unexpected(buf, i, 'expected "," or "]"');
          break;
        case State.Done:
          throw this.unexpected(buf, i, 'data after the end of the JSON document');
      }
      i++;
    }
    this.pos = i;
  }

  private startCapture(c: number, i: number): void {
    this.capturing = true;
    this.captureStart = i;
    this.captureLine = this.line;
    this.inString = c === Ch.Quote;
    this.escape = false;
    this.scalar = !(c === Ch.OpenBrace || c === Ch.OpenBracket || c === Ch.Quote);
    this.depth = c === Ch.OpenBrace || c === Ch.OpenBracket ? 1 : 0;
  }

  /** For format detection: after one line, is this plausibly the start of a wrapper object? */
  looksLikeWrapperStart(): boolean {
    if (this.topLevel !== 'object') return false;
    return this.sawSubscriptions || (!this.capturing && (this.state === State.ObjectKeyOrEnd || this.state === State.ObjectKey));
  }

  private finishCapture(end: number): void {
    const text = this.buf.slice(this.captureStart, end);
    this.capturing = false;
    this.pos = end;
    const elementOf = this.topLevel === 'array' || this.inSubscriptions;
    if (!elementOf) {
      // Another value in the wrapper object: it only has to be JSON.
      try {
        JSON.parse(text);
      } catch (error) {
        throw this.fatal(`line ${this.captureLine}: the value of "${this.key}" is not JSON (${shortJsonError(error)})`);
      }
      return;
    }
    const position: RecordPosition = { line: this.captureLine, index: this.index++ };
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      this.onBad(position, `${where(position)}: not JSON (${shortJsonError(error)})`);
      return;
    }
    this.onRecord(value, position);
  }

  private endArray(): void {
    if (this.topLevel === 'array') this.state = State.Done;
    else {
      this.inSubscriptions = false;
      this.state = State.ObjectCommaOrEnd;
    }
  }

  private unexpected(buf: string, i: number, expected: string): PushctlError {
    return this.fatal(`line ${this.line}: unexpected ${JSON.stringify(buf.slice(i, i + 12))}: ${expected}`);
  }

  private fatal(message: string): PushctlError {
    return fail('invalid_input', `invalid JSON document: ${message}`, { details: { line: this.line } });
  }
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

function shortJsonError(error: unknown): string {
  return (error as Error).message.replace(/^Unexpected token/, 'unexpected token').split('\n')[0]!.slice(0, 100);
}
