/**
 * Which URLs a subscription endpoint may point at. pushctl POSTs to every stored endpoint, so an
 * endpoint is an outbound request the server makes on a stranger's say-so: only the browsers'
 * push services (https, default port) and the origins an operator lists in push.endpointOrigins
 * are allowed. Everything else (other hosts, IP literals, credentials in the URL, odd ports, plain
 * http) is refused, so pushctl never becomes a way to reach internal services.
 *
 * The receiver checks this when a subscription arrives and the transport checks it again just
 * before sending (the configuration may have narrowed since).
 */
import net from 'node:net';
import type { Config } from '../config.js';
import { fail } from '../errors.js';
import { MAX_ENDPOINT_LENGTH } from '../limits.js';
import { canonicalizePercentEncoding } from '../endpoint-form.js';

/** Push services of the major browsers (Chrome/Edge-Chromium/Opera/Samsung use FCM). */
export const BUILTIN_PUSH_SERVICES: readonly string[] = [
  'fcm.googleapis.com',
  'android.googleapis.com',
  'updates.push.services.mozilla.com',
  '*.notify.windows.com',
  'web.push.apple.com',
];

interface OriginRule {
  /** The configured text, for messages. */
  text: string;
  protocol: 'https:' | 'http:';
  /** Exact host, or the suffix after "*." for wildcards. */
  host: string;
  wildcard: boolean;
  /** '' for the scheme's default port, as URL reports it. */
  port: string;
}

export interface EndpointPolicy {
  readonly builtin: readonly OriginRule[];
  readonly configured: readonly OriginRule[];
}

const policies = new WeakMap<Config, EndpointPolicy>();

/** The policy for a configuration (built once per Config object). */
export function endpointPolicyFromConfig(config: Config): EndpointPolicy {
  let policy = policies.get(config);
  if (!policy) {
    policy = createEndpointPolicy(config.push.endpointOrigins, 'push.endpointOrigins');
    policies.set(config, policy);
  }
  return policy;
}

/** `origins` as in push.endpointOrigins; `setting` names where they came from in errors. */
export function createEndpointPolicy(origins: readonly string[], setting = 'push.endpointOrigins'): EndpointPolicy {
  return {
    builtin: BUILTIN_PUSH_SERVICES.map((host) => parseOrigin(`https://${host}`, 'built-in push services')),
    configured: origins.map((origin) => parseOrigin(origin, setting)),
  };
}

function parseOrigin(text: string, setting: string): OriginRule {
  const match = /^(https?):\/\/(\*\.)?([^/:]+)(?::(\d{1,5}))?\/?$/i.exec(text.trim());
  if (!match) throw fail('invalid_config', `"${text}" is not an origin like "https://push.example.net", "https://*.example.net" or "http://127.0.0.1:8090"`, { at: setting });
  const protocol = `${match[1]!.toLowerCase()}:` as 'https:' | 'http:';
  const wildcard = Boolean(match[2]);
  const rawHost = match[3]!.toLowerCase();
  let url: URL;
  try {
    url = new URL(`${protocol}//${rawHost}${match[4] ? `:${match[4]}` : ''}/`);
  } catch {
    throw fail('invalid_config', `"${text}" is not a valid origin`, { at: setting });
  }
  if (wildcard && protocol === 'http:') {
    throw fail('invalid_config', `"${text}": plain http is allowed only for one named host[:port], not a wildcard`, { at: setting });
  }
  if (wildcard && net.isIP(url.hostname)) throw fail('invalid_config', `"${text}": a wildcard cannot cover an IP address`, { at: setting });
  return { text, protocol, host: url.hostname, wildcard, port: url.port };
}

/** Throws an input error saying why, unless the endpoint may receive pushes. */
export function assertEndpointAllowed(endpoint: string, policy: EndpointPolicy, label = 'endpoint'): void {
  const reason = endpointRefusal(endpoint, policy);
  if (reason) throw fail('endpoint_refused', reason, { field: label });
}

/** The endpoint in canonical form (as URL serialises it), or an input error. */
export function normalizeEndpoint(endpoint: string, policy: EndpointPolicy, label = 'endpoint'): string {
  const checked = checkEndpoint(endpoint, policy);
  if (checked.reason !== undefined) throw fail('endpoint_refused', checked.reason, { field: label });
  return checked.url.href;
}

/** Why the endpoint is refused, or undefined when it is allowed. */
export function endpointRefusal(endpoint: string, policy: EndpointPolicy): string | undefined {
  return checkEndpoint(endpoint, policy).reason;
}

/**
 * The check the wire makes before every push, made once per scheme and authority: at that moment
 * it guards against an origin the configuration no longer allows (each endpoint's own shape was
 * checked when it was stored), and a send reaches a handful of origins but thousands of endpoints.
 */
export function originRefusal(policy: EndpointPolicy): (endpoint: string) => string | undefined {
  const known = new Map<string, string | undefined>();
  return (endpoint) => {
    const authority = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(endpoint)?.[0];
    // Unparseable, or an unusual number of origins: the whole check, every time.
    if (authority === undefined || known.size >= 1000) return endpointRefusal(endpoint, policy);
    if (!known.has(authority)) known.set(authority, endpointRefusal(`${authority}/`, policy));
    return known.get(authority);
  };
}

/** The parsed URL of an allowed endpoint, or why it is refused. */
export function checkEndpoint(endpoint: string, policy: EndpointPolicy): { url: URL; reason?: undefined } | { url?: undefined; reason: string } {
  const reason = (text: string) => ({ reason: text });
  if (endpoint.length > MAX_ENDPOINT_LENGTH) return reason(`longer than ${MAX_ENDPOINT_LENGTH} characters`);
  // The URL parser quietly drops whitespace and control characters; a real endpoint has none.
  if (hasSpaceOrControl(endpoint)) return reason('contains whitespace or control characters');
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return reason(`"${clip(endpoint)}" is not an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return reason(`scheme ${url.protocol} is not allowed (https only)`);
  if (url.username || url.password) return reason('credentials in the URL are not allowed');
  if (url.hash) return reason('a #fragment is not allowed');
  const host = url.hostname;
  // "https://.notify.windows.com/x" would otherwise match the wildcard with an empty label.
  if (!isIpLiteral(host) && host.split('.').some((label) => label === '')) return reason(`host name "${host}" has an empty label`);
  canonicalizePercentEncoding(url);

  if (policy.configured.some((rule) => matches(rule, url))) return { url };
  if (policy.builtin.some((rule) => matches(rule, url))) return { url };

  const where = `${url.protocol}//${url.host}`;
  if (isIpLiteral(host)) {
    const address = host.replace(/^\[|\]$/g, '');
    const range = privateRange(address);
    return reason(
      range
        ? `${address} is a ${range} address; list "${where}" in push.endpointOrigins to allow it`
        : `IP address ${address} is not a push service; list "${where}" in push.endpointOrigins to allow it`,
    );
  }
  if (policy.builtin.some((rule) => hostMatches(rule, host))) {
    if (url.protocol !== 'https:') return reason(`${host} is a push service but must be reached over https`);
    return reason(`port ${url.port} is not allowed for ${host} (push services use the default https port)`);
  }
  if (url.protocol === 'http:') return reason(`plain http is allowed only for an origin listed in push.endpointOrigins (for local testing), and "${where}" is not listed`);
  return reason(`${where} is not a known push service; add it to push.endpointOrigins if you trust it`);
}

function hasSpaceOrControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c === 0xa0 || c === 0x2028 || c === 0x2029 || c === 0xfeff) return true;
  }
  return false;
}

function matches(rule: OriginRule, url: URL): boolean {
  return url.protocol === rule.protocol && url.port === rule.port && hostMatches(rule, url.hostname);
}

function hostMatches(rule: OriginRule, host: string): boolean {
  return rule.wildcard ? host.length > rule.host.length + 1 && host.endsWith(`.${rule.host}`) : host === rule.host;
}

function isIpLiteral(host: string): boolean {
  return host.startsWith('[') || net.isIPv4(host);
}

const privateRanges: [string, BlockListRange[]][] = [
  ['loopback', [['127.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6']]],
  ['private', [['10.0.0.0', 8, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.168.0.0', 16, 'ipv4'], ['100.64.0.0', 10, 'ipv4'], ['fc00::', 7, 'ipv6']]],
  ['link-local', [['169.254.0.0', 16, 'ipv4'], ['fe80::', 10, 'ipv6']]],
  ['unspecified', [['0.0.0.0', 8, 'ipv4'], ['::', 128, 'ipv6']]],
  ['reserved', [['192.0.0.0', 24, 'ipv4'], ['198.18.0.0', 15, 'ipv4'], ['240.0.0.0', 4, 'ipv4'], ['64:ff9b::', 96, 'ipv6']]],
  ['multicast', [['224.0.0.0', 4, 'ipv4'], ['ff00::', 8, 'ipv6']]],
];
type BlockListRange = [string, number, 'ipv4' | 'ipv6'];

const rangeLists = privateRanges.map(([name, ranges]) => {
  const list = new net.BlockList();
  for (const [address, prefix, type] of ranges) list.addSubnet(address, prefix, type);
  return [name, list] as const;
});

/** The kind of non-public range an IP address is in (IPv4-mapped IPv6 included), if any. */
export function privateRange(address: string): string | undefined {
  const type = net.isIPv4(address) ? 'ipv4' : net.isIPv6(address) ? 'ipv6' : undefined;
  if (!type) return undefined;
  for (const [name, list] of rangeLists) if (list.check(address, type)) return name;
  return undefined;
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
