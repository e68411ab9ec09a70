/*
 * pushctl service worker: shows the notification that `pushctl send` builds (classic
 * {title, body, url, icon, image, actions, ...} or a Declarative Web Push message), opens or
 * focuses its url (or the pressed button's) on click, and re-posts the subscription after the
 * browser replaces it (pushsubscriptionchange). See docs/payloads.md.
 *
 * It must be served from your site's own origin. When the pushctl server lives elsewhere, register
 * it as /sw.js?server=https://push.example.com (app.js does this from its data-server attribute).
 */
'use strict';

var server = (new URL(self.location.href).searchParams.get('server') || self.location.origin).replace(/\/+$/, '');

self.addEventListener('install', function () {
  self.skipWaiting();
});

self.addEventListener('activate', function (event) {
  event.waitUntil(self.clients.claim());
});

/** Fields pushctl's own payloads use; anything else a payload carries passes through in data.extra. */
var KNOWN_FIELDS = ['title', 'body', 'url', 'icon', 'badge', 'image', 'tag', 'lang', 'dir', 'timestamp', 'requireInteraction', 'renotify', 'silent', 'actions', 'badgeCount', 'data', 'track'];
var DECLARATIVE_NAMES = { navigate: 'url', require_interaction: 'requireInteraction' };

/**
 * The message as the service worker should show it, in one shape for every format: pushctl's
 * classic JSON, a Declarative Web Push message ({"web_push": 8030, "notification": {...}}, which
 * browsers without declarative support hand to this worker), or raw text (shown as the body).
 */
function readMessage(text) {
  var value;
  try {
    value = JSON.parse(text);
  } catch {
    return { body: text };
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return { body: String(value) };
  if (value.web_push === 8030 && value.notification && typeof value.notification === 'object') return fromDeclarative(value);
  if (value.notification && typeof value.notification === 'object') return value.notification;
  return value;
}

function fromDeclarative(message) {
  var out = {};
  Object.keys(message.notification).forEach(function (key) {
    out[DECLARATIVE_NAMES[key] || key] = message.notification[key];
  });
  if (Array.isArray(out.actions)) {
    out.actions = out.actions.map(function (a) {
      return a && typeof a === 'object' ? { action: a.action, title: a.title, url: a.navigate } : a;
    });
  }
  // app_badge (and pushctl's delivery token) sit next to "notification" in a declarative message.
  if (typeof message.app_badge === 'number') out.badgeCount = message.app_badge;
  if (typeof message.track === 'string') out.track = message.track;
  return out;
}

function isString(value) {
  return typeof value === 'string' && value !== '';
}

/** NotificationOptions from the message; click targets and unknown fields ride along in data. */
function notificationOptions(message) {
  var actionUrls = {};
  var actions = [];
  if (Array.isArray(message.actions)) {
    var max = (self.Notification && Notification.maxActions) || 2;
    message.actions.slice(0, max).forEach(function (a) {
      if (!a || !isString(a.action) || !isString(a.title)) return;
      actions.push({ action: a.action, title: a.title });
      if (isString(a.url)) actionUrls[a.action] = a.url;
    });
  }
  var extra = {};
  Object.keys(message).forEach(function (key) {
    if (KNOWN_FIELDS.indexOf(key) === -1) extra[key] = message[key];
  });
  var options = {
    body: typeof message.body === 'string' ? message.body : '',
    data: {
      url: isString(message.url) ? message.url : null,
      actions: actionUrls,
      data: message.data === undefined ? null : message.data,
      extra: extra,
      track: isString(message.track) ? message.track : null,
    },
  };
  ['icon', 'badge', 'image', 'tag', 'lang'].forEach(function (key) {
    if (isString(message[key])) options[key] = message[key];
  });
  if (['auto', 'ltr', 'rtl'].indexOf(message.dir) !== -1) options.dir = message.dir;
  if (typeof message.timestamp === 'number') options.timestamp = message.timestamp;
  if (message.requireInteraction === true) options.requireInteraction = true;
  if (message.silent === true) options.silent = true;
  if (message.renotify === true && options.tag) options.renotify = true;
  if (actions.length) options.actions = actions;
  return options;
}

/** The app badge (Badging API), where the browser has one; 0 clears it. */
function updateBadge(count) {
  if (typeof count !== 'number' || !self.navigator || !self.navigator.setAppBadge) return Promise.resolve();
  var done = count === 0 ? self.navigator.clearAppBadge() : self.navigator.setAppBadge(count);
  return Promise.resolve(done).catch(function () {});
}

/**
 * Every push shows a notification, whatever it carries: browsers count pushes that show nothing,
 * and Apple's push service cancels the subscription of a site whose worker stays silent (Chrome
 * shows its own "site updated in the background" instead). When the full notification fails (an
 * option this browser refuses, say), a plain one with the same title and body is shown.
 */
function showAlways(title, options) {
  var registration = self.registration;
  return registration.showNotification(title, options).catch(function (error) {
    console.warn('pushctl: cannot show the notification as sent (' + error + '); showing a plain one');
    return registration.showNotification(title, { body: options.body, data: options.data }).catch(function () {
      return registration.showNotification(title);
    });
  });
}

/**
 * Tells pushctl what became of a tracked delivery (shown, clicked with the button's id, dismissed).
 * keepalive lets the report finish after the worker is done; a lost report costs only a count.
 */
function report(token, kind, action) {
  if (!isString(token)) return Promise.resolve();
  var body = { token: token, event: kind };
  if (isString(action)) body.action = action;
  return fetch(server + '/events', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), keepalive: true })
    .then(function () {})
    .catch(function () {});
}

self.addEventListener('push', function (event) {
  var text = event.data ? event.data.text() : '';
  var message = readMessage(text);
  var title = isString(message.title) ? message.title : 'Notification';
  var options = notificationOptions(message);
  var shown = showAlways(title, options).then(function () {
    return report(options.data.track, 'shown');
  });
  // Open pages of this site hear about it too (the subscribe page shows the last notification).
  var told = self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(function (list) {
    list.forEach(function (client) {
      client.postMessage({ type: 'pushctl:push', title: title, payload: text });
    });
  });
  event.waitUntil(Promise.all([shown, told, updateBadge(message.badgeCount)]));
});

self.addEventListener('notificationclick', function (event) {
  event.notification.close();
  var data = event.notification.data || {};
  // A button opens its own URL; a button without one, or the body, opens the notification's.
  var url = (event.action && data.actions && data.actions[event.action]) || data.url;
  var reported = report(data.track, 'clicked', event.action);
  if (!url) {
    event.waitUntil(reported);
    return;
  }
  var target = new URL(url, self.location.origin).href;
  var opened = self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(function (list) {
    for (var i = 0; i < list.length; i++) {
      if (list[i].url === target && 'focus' in list[i]) return list[i].focus();
    }
    return self.clients.openWindow(target);
  });
  event.waitUntil(Promise.all([opened, reported]));
});

self.addEventListener('notificationclose', function (event) {
  var data = event.notification.data || {};
  event.waitUntil(report(data.track, 'dismissed'));
});

/**
 * The browser replaced the subscription (expiry, key change): subscribe again if it did not already,
 * and tell the server, naming the old endpoint so it is replaced and keeps its categories.
 */
self.addEventListener('pushsubscriptionchange', function (event) {
  var oldSubscription = event.oldSubscription || null;
  var fresh = event.newSubscription
    ? Promise.resolve(event.newSubscription)
    : fetch(server + '/subscription')
        .then(function (response) { return response.json(); })
        .then(function (info) {
          return self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(info.public_key) });
        });
  event.waitUntil(
    fresh.then(function (subscription) {
      var body = { subscription: subscription.toJSON() };
      if (oldSubscription) body.old_endpoint = oldSubscription.endpoint;
      // The zone may have changed since the page subscribed (a traveller); send what holds now.
      var zone = browserTimeZone();
      if (zone) body.time_zone = zone;
      if (self.navigator && self.navigator.language) body.language = self.navigator.language;
      return fetch(server + '/subscription', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    }),
  );
});

function browserTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
  } catch {
    return null;
  }
}

function keyBytes(base64url) {
  var padded = base64url.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((base64url.length + 3) % 4);
  var raw = atob(padded);
  var bytes = new Uint8Array(raw.length);
  for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}
