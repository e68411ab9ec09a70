/**
 * Declarative Web Push (WebKit; Safari 18.4+ on iOS/iPadOS Home Screen apps, 18.5+ on macOS):
 * a push message whose JSON describes the notification itself, so the browser can show it with
 * no service worker. The rules followed here are the Push API's "declarative push message"
 * parser (w3c/push-api, https://w3c.github.io/push-api/#declarative-push-message) and WebKit's
 * "Meet Declarative Web Push" (https://webkit.org/blog/16535/meet-declarative-web-push/):
 *
 * - the top-level "web_push" member must be exactly 8030, or the browser falls back to the
 *   classic push event;
 * - "notification" needs a non-empty "title" and a "navigate" URL (what a click opens); every
 *   action needs "action", "title" and its own "navigate";
 * - URLs are parsed with no base (there may be no page or worker), so they must be absolute;
 *   push needs a secure context, so pushctl asks for https;
 * - "app_badge" sits at the top level, next to "notification" (not inside it), and is an unsigned
 *   integer: 0 clears the badge;
 * - "mutable": true lets a service worker replace the proposed notification; absent means the
 *   browser shows it as it is.
 *
 * A message that breaks these rules is dropped by the browser without a word, so pushctl refuses
 * to build one.
 */
import { fail } from '../errors.js';
import { DECLARATIVE_MAGIC } from '../limits.js';
import type { NotificationContent } from './notification-spec.js';

export function declarativePayload(c: NotificationContent): Record<string, unknown> {
  if (!c.title || c.title.trim() === '') {
    throw fail('invalid_request', 'a declarative notification needs a non-empty title (Declarative Web Push requires one)', { field: 'title' });
  }
  if (c.url === undefined) {
    throw fail('invalid_request', 'a declarative notification needs a url, the page a click opens (Declarative Web Push "navigate")', { field: 'url' });
  }
  const notification: Record<string, unknown> = { title: c.title, navigate: absoluteHttps(c.url, 'url') };
  if (c.body !== undefined) notification.body = c.body;
  if (c.lang !== undefined) notification.lang = c.lang;
  if (c.dir !== undefined) notification.dir = c.dir;
  if (c.silent !== undefined) notification.silent = c.silent;
  if (c.tag !== undefined) notification.tag = c.tag;
  if (c.icon !== undefined) notification.icon = absoluteHttps(c.icon, 'icon');
  if (c.badge !== undefined) notification.badge = absoluteHttps(c.badge, 'badge');
  if (c.image !== undefined) notification.image = absoluteHttps(c.image, 'image');
  if (c.renotify !== undefined) notification.renotify = c.renotify;
  if (c.requireInteraction !== undefined) notification.require_interaction = c.requireInteraction;
  if (c.timestamp !== undefined) notification.timestamp = c.timestamp;
  if (c.actions !== undefined) {
    notification.actions = c.actions.map((a, i) => {
      if (a.url === undefined) {
        throw fail('invalid_request', `[${i}]: "${a.action}" needs a URL in a declarative notification; the browser opens it without a service worker`, { field: 'actions' });
      }
      return { action: a.action, title: a.title, navigate: absoluteHttps(a.url, `actions[${i}].url`) };
    });
  }
  if (c.data !== undefined) notification.data = c.data;
  const message: Record<string, unknown> = { web_push: DECLARATIVE_MAGIC, notification };
  if (c.badgeCount !== undefined) message.app_badge = c.badgeCount;
  return message;
}

function absoluteHttps(value: string, field: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== 'https:') {
    throw fail('invalid_input', `"${value}" must be an absolute https:// URL in a declarative notification (the browser resolves it with no page to be relative to)`, { field });
  }
  return value;
}
