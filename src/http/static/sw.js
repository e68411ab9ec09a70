/*
 * pushctl service worker: shows the notification that `pushctl send` builds
 * ({title, body, icon, badge, tag, url, data}), opens or focuses `url` on click, and re-posts the
 * subscription after the browser replaces it (pushsubscriptionchange).
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

/** The message as the service worker should show it; raw payloads that are not JSON become the body. */
function readMessage(text) {
  var value;
  try {
    value = JSON.parse(text);
  } catch {
    return { body: text };
  }
  if (!value || typeof value !== 'object') return { body: String(value) };
  if (value.notification && typeof value.notification === 'object') return value.notification;
  return value;
}

self.addEventListener('push', function (event) {
  var text = event.data ? event.data.text() : '';
  var message = readMessage(text);
  var title = typeof message.title === 'string' && message.title ? message.title : 'Notification';
  var options = {
    body: typeof message.body === 'string' ? message.body : '',
    data: { url: typeof message.url === 'string' ? message.url : null, data: message.data === undefined ? null : message.data },
  };
  if (typeof message.icon === 'string') options.icon = message.icon;
  if (typeof message.badge === 'string') options.badge = message.badge;
  if (typeof message.tag === 'string') options.tag = message.tag;

  var shown = self.registration.showNotification(title, options).catch(function (error) {
    console.warn('pushctl: cannot show the notification: ' + error);
  });
  // Open pages of this site hear about it too (the subscribe page shows the last notification).
  var told = self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(function (list) {
    list.forEach(function (client) {
      client.postMessage({ type: 'pushctl:push', title: title, payload: text });
    });
  });
  event.waitUntil(Promise.all([shown, told]));
});

self.addEventListener('notificationclick', function (event) {
  event.notification.close();
  var data = event.notification.data || {};
  if (!data.url) return;
  var target = new URL(data.url, self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(function (list) {
      for (var i = 0; i < list.length; i++) {
        if (list[i].url === target && 'focus' in list[i]) return list[i].focus();
      }
      return self.clients.openWindow(target);
    }),
  );
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
      return fetch(server + '/subscription', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    }),
  );
});

function keyBytes(base64url) {
  var padded = base64url.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((base64url.length + 3) % 4);
  var raw = atob(padded);
  var bytes = new Uint8Array(raw.length);
  for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}
