/*
 * pushctl subscribe widget: plain JavaScript, no build step. It renders into <div id="pushctl">,
 * fetches the VAPID public key and categories from the pushctl server, registers the service
 * worker (sw.js), subscribes, posts the subscription with the chosen categories, shows the state,
 * and unsubscribes. With every subscription it sends the browser's IANA time zone and language.
 *
 * On your own site: copy app.js and sw.js to the site's root, add <div id="pushctl"></div> and
 *   <script src="/app.js" data-server="https://push.example.com" defer></script>
 * and list your site's origin in serve.corsOrigins of the pushctl server.
 */
(function () {
  'use strict';

  var script = document.currentScript;
  var server = ((script && script.getAttribute('data-server')) || location.origin).replace(/\/+$/, '');
  var swPath = (script && script.getAttribute('data-sw')) || '/sw.js';
  /** A browser whose push service cannot be reached never settles subscribe(); do not wait forever. */
  var SUBSCRIBE_TIMEOUT_MS = 15000;

  var root = document.getElementById('pushctl');
  if (!root) return;

  var ui = build(root);
  var info = null; // { public_key, categories }

  function build(container) {
    container.textContent = '';
    var status = el('p', 'pushctl-status');
    status.setAttribute('role', 'status');
    status.setAttribute('aria-live', 'polite');
    var fieldset = el('fieldset', 'pushctl-categories');
    var legend = el('legend');
    legend.textContent = 'Topics';
    fieldset.appendChild(legend);
    var list = el('div');
    fieldset.appendChild(list);
    var actions = el('p', 'pushctl-actions');
    var subscribe = button('Subscribe', 'pushctl-subscribe', 'primary');
    var save = button('Save topics', 'pushctl-save');
    var unsubscribe = button('Unsubscribe', 'pushctl-unsubscribe');
    actions.appendChild(subscribe);
    actions.appendChild(save);
    actions.appendChild(unsubscribe);
    var last = el('p', 'pushctl-last');
    last.id = 'pushctl-last';
    container.appendChild(status);
    container.appendChild(fieldset);
    container.appendChild(actions);
    container.appendChild(last);
    status.id = 'pushctl-status';
    return { status: status, fieldset: fieldset, list: list, subscribe: subscribe, save: save, unsubscribe: unsubscribe, last: last };
  }

  function el(tag, className) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    return node;
  }

  function button(label, id, className) {
    var node = el('button', className);
    node.type = 'button';
    node.id = id;
    node.textContent = label;
    node.hidden = true;
    return node;
  }

  /** state: loading | unsupported | blocked | unavailable | unsubscribed | working | subscribed | error */
  function show(state, message) {
    ui.status.setAttribute('data-state', state);
    ui.status.textContent = message;
    var busy = state === 'loading' || state === 'working';
    ui.subscribe.hidden = state !== 'unsubscribed' && state !== 'error' && state !== 'unavailable';
    ui.save.hidden = state !== 'subscribed';
    ui.unsubscribe.hidden = state !== 'subscribed';
    ui.subscribe.disabled = busy;
    ui.fieldset.disabled = busy || state === 'unsupported' || state === 'blocked';
  }

  function renderCategories(categories, checked) {
    ui.list.textContent = '';
    ui.fieldset.hidden = categories.length === 0;
    categories.forEach(function (category) {
      var label = el('label');
      var box = el('input');
      box.type = 'checkbox';
      box.name = 'category';
      box.value = category.name;
      box.id = 'pushctl-category-' + category.name;
      box.checked = checked.indexOf(category.name) !== -1;
      label.appendChild(box);
      label.appendChild(document.createTextNode(' ' + category.name));
      if (category.description) {
        var small = el('small');
        small.textContent = category.description;
        label.appendChild(small);
      }
      ui.list.appendChild(label);
    });
  }

  function chosenCategories() {
    var boxes = ui.list.querySelectorAll('input[name="category"]');
    var names = [];
    for (var i = 0; i < boxes.length; i++) if (boxes[i].checked) names.push(boxes[i].value);
    return names;
  }

  /** Why push cannot work here, or null. */
  function unsupportedReason() {
    if (!window.isSecureContext) return 'Notifications need a secure (https) page.';
    if (!('serviceWorker' in navigator)) return 'This browser does not support service workers, so it cannot receive notifications.';
    if (!('PushManager' in window)) return 'This browser does not support push notifications.';
    if (!('Notification' in window)) return 'This browser cannot show notifications.';
    return null;
  }

  function api(method, path, body) {
    var init = { method: method, headers: {} };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(server + path, init).then(function (response) {
      if (response.status === 204) return null;
      return response.json().catch(function () { return null; }).then(function (data) {
        if (!response.ok) {
          var message = data && data.error && data.error.message ? data.error.message : 'HTTP ' + response.status;
          var failure = new Error(message);
          failure.field = data && data.error ? data.error.field : undefined;
          throw failure;
        }
        return data;
      });
    });
  }

  function keyBytes(base64url) {
    var padded = base64url.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((base64url.length + 3) % 4);
    var raw = atob(padded);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function sameKey(buffer, base64url) {
    if (!buffer) return false;
    var a = new Uint8Array(buffer);
    var b = keyBytes(base64url);
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  function withTimeout(promise, ms, message) {
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () { reject(new Error(message)); }, ms);
      promise.then(
        function (value) { clearTimeout(timer); resolve(value); },
        function (error) { clearTimeout(timer); reject(error); },
      );
    });
  }

  function registration() {
    var url = swPath + (server === location.origin ? '' : '?server=' + encodeURIComponent(server));
    return navigator.serviceWorker.register(url).then(function () {
      return navigator.serviceWorker.ready;
    });
  }

  function storedCategories() {
    try {
      return JSON.parse(window.localStorage.getItem('pushctl-categories') || '[]');
    } catch {
      return [];
    }
  }

  function rememberCategories(names) {
    try {
      window.localStorage.setItem('pushctl-categories', JSON.stringify(names));
    } catch {
      // Private mode: the checkboxes simply start empty next time.
    }
  }

  /** What the server stores: the subscription, the chosen topics, and this browser's zone and language. */
  function subscriptionBody(subscription, names) {
    var body = { subscription: subscription.toJSON(), categories: names };
    var locale = browserLocale();
    if (locale.time_zone) body.time_zone = locale.time_zone;
    if (locale.language) body.language = locale.language;
    return body;
  }

  /**
   * Posts the subscription. A server that does not know this browser's zone or language (an older
   * time zone database) refuses it with 400; subscribing matters more, so it is posted again without them.
   */
  function postSubscription(subscription, names) {
    var body = subscriptionBody(subscription, names);
    return api('POST', '/subscription', body).catch(function (error) {
      if (error.field !== 'time_zone' && error.field !== 'language') throw error;
      delete body.time_zone;
      delete body.language;
      return api('POST', '/subscription', body);
    });
  }

  /** The IANA zone and language the browser reports (either may be missing in odd browsers). */
  function browserLocale() {
    var zone = null;
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone || null;
    } catch {
      zone = null;
    }
    return { time_zone: zone, language: navigator.language || null };
  }

  function subscribedMessage(names) {
    return names.length ? 'Subscribed to: ' + names.join(', ') + '.' : 'Subscribed.';
  }

  function subscribe() {
    show('working', 'Subscribing...');
    var names = chosenCategories();
    var permission = Notification.permission === 'granted' ? Promise.resolve('granted') : Promise.resolve(Notification.requestPermission());
    return permission
      .then(function (result) {
        if (result !== 'granted') {
          var blocked = new Error('Notifications are blocked for this site. Allow them in the browser\'s site settings, then try again.');
          blocked.state = 'blocked';
          throw blocked;
        }
        return registration();
      })
      .then(function (reg) {
        return reg.pushManager.getSubscription().then(function (existing) {
          // A subscription made under an older key cannot receive pushes signed with the new one.
          if (existing && !sameKey(existing.options && existing.options.applicationServerKey, info.public_key)) {
            return existing.unsubscribe().then(function () { return null; });
          }
          return existing;
        }).then(function (existing) {
          if (existing) return existing;
          return withTimeout(
            reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(info.public_key) }),
            SUBSCRIBE_TIMEOUT_MS,
            'the browser\'s push service did not answer',
          ).catch(function (error) {
            // Private windows, browsers without their vendor's push service, offline machines.
            var unavailable = new Error('Push notifications are unavailable in this browser (' + (error.message || error.name) + ').');
            unavailable.state = 'unavailable';
            throw unavailable;
          });
        });
      })
      .then(function (subscription) {
        return postSubscription(subscription, names);
      })
      .then(function () {
        rememberCategories(names);
        show('subscribed', subscribedMessage(names));
      })
      .catch(function (error) {
        show(error.state || 'error', (error.state ? '' : 'Could not subscribe: ') + error.message);
      });
  }

  function saveCategories() {
    show('working', 'Saving...');
    var names = chosenCategories();
    return currentSubscription()
      .then(function (subscription) {
        if (!subscription) throw new Error('this browser is no longer subscribed');
        return postSubscription(subscription, names);
      })
      .then(function () {
        rememberCategories(names);
        show('subscribed', subscribedMessage(names));
      })
      .catch(function (error) {
        show('error', 'Could not save: ' + error.message);
      });
  }

  function unsubscribe() {
    show('working', 'Unsubscribing...');
    return currentSubscription()
      .then(function (subscription) {
        if (!subscription) return null;
        return api('DELETE', '/subscription', { endpoint: subscription.endpoint }).then(function () {
          return subscription.unsubscribe();
        });
      })
      .then(function () {
        show('unsubscribed', 'Not subscribed.');
      })
      .catch(function (error) {
        show('error', 'Could not unsubscribe: ' + error.message);
      });
  }

  function currentSubscription() {
    return navigator.serviceWorker.getRegistration(swPath).then(function (reg) {
      return reg ? reg.pushManager.getSubscription() : null;
    });
  }

  ui.subscribe.addEventListener('click', subscribe);
  ui.save.addEventListener('click', saveCategories);
  ui.unsubscribe.addEventListener('click', unsubscribe);

  show('loading', 'Loading...');
  api('GET', '/subscription')
    .then(function (data) {
      info = data;
      renderCategories(data.categories || [], storedCategories());
      var reason = unsupportedReason();
      if (reason) {
        show('unsupported', reason + ' Push notifications are unavailable here.');
        return null;
      }
      navigator.serviceWorker.addEventListener('message', function (event) {
        var message = event.data || {};
        if (message.type !== 'pushctl:push') return;
        ui.last.setAttribute('data-payload', message.payload);
        ui.last.textContent = 'Last notification: ' + (message.title || '(no title)');
      });
      if (Notification.permission === 'denied') {
        show('blocked', 'Notifications are blocked for this site. Allow them in the browser\'s site settings to subscribe.');
        return null;
      }
      return currentSubscription().then(function (subscription) {
        if (subscription && sameKey(subscription.options && subscription.options.applicationServerKey, data.public_key)) {
          show('subscribed', subscribedMessage(storedCategories()));
        } else {
          show('unsubscribed', 'Not subscribed.');
        }
      });
    })
    .catch(function (error) {
      show('error', 'Could not reach the notification server: ' + error.message);
    });
})();
