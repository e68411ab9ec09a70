/**
 * The one spelling of an endpoint that pushctl stores and compares (no dependencies: the store's
 * migration 8 rewrites stored endpoints with it, the core normalises incoming ones).
 */

/**
 * The endpoint as stored and compared: URL's serialisation, with percent-encoded unreserved
 * characters decoded and other escapes in upper case (RFC 3986 section 6.2.2), so ".../race/1" and
 * ".../race/%31" are one subscription. Undefined when the text is not a URL.
 */
export function canonicalEndpoint(text: string): string | undefined {
  if (!URL.canParse(text)) return undefined;
  const url = new URL(text);
  canonicalizePercentEncoding(url);
  return url.href;
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** Rewrites the URL's path and query escapes in place, as canonicalEndpoint does. */
export function canonicalizePercentEncoding(url: URL): void {
  const fix = (part: string) =>
    part.replace(/%([0-9A-Fa-f]{2})/g, (escape: string, hex: string) => {
      const char = String.fromCharCode(parseInt(hex, 16));
      return UNRESERVED.test(char) ? char : escape.toUpperCase();
    });
  const path = fix(url.pathname);
  if (path !== url.pathname) url.pathname = path;
  const search = fix(url.search);
  if (search !== url.search) url.search = search;
}
