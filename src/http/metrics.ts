/**
 * Prometheus metrics (prom-client) for `pushctl serve` and `pushctl dispatch --watch`. Counters
 * live in this process and start at zero with it; gauges are read from the store at each scrape
 * (core/stats.ts, index-backed queries). Each server gets its own registry, so two in one process
 * (tests) never share counts.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Context } from '../core/context.js';
import type { DeliveryObserver, DeliveryOutcome } from '../core/delivery-observer.js';
import { storeGauges } from '../core/stats.js';

const RESPONSE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class PushctlMetrics {
  readonly registry = new Registry();
  private readonly deliveries = new Counter({ name: 'pushctl_deliveries_total', help: 'Delivery attempts recorded, by outcome and push-service origin.', labelNames: ['outcome', 'origin'], registers: [this.registry] });
  private readonly pushSeconds = new Histogram({
    name: 'pushctl_push_response_seconds',
    help: 'Time from sending a push request to the push service answering, by origin and status class (2xx, 4xx, 5xx, error).',
    labelNames: ['origin', 'status_class'],
    buckets: RESPONSE_BUCKETS,
    registers: [this.registry],
  });
  private readonly notifications = new Gauge({ name: 'pushctl_notifications', help: 'Notifications in the store, by status.', labelNames: ['status'], registers: [this.registry] });
  private readonly overdue = new Gauge({ name: 'pushctl_notifications_overdue', help: 'Scheduled notifications past their time that no sender has started.', registers: [this.registry] });
  private readonly due = new Gauge({ name: 'pushctl_deliveries_due', help: 'Pending deliveries of notifications being sent that may be attempted now.', registers: [this.registry] });
  private readonly deferred = new Gauge({ name: 'pushctl_deliveries_deferred', help: 'Pending deliveries waiting for a later attempt (backoff, Retry-After).', registers: [this.registry] });
  private readonly subscriptions = new Gauge({ name: 'pushctl_subscriptions', help: 'Subscriptions in the store.', registers: [this.registry] });
  private readonly categorySubscriptions = new Gauge({ name: 'pushctl_category_subscriptions', help: 'Subscriptions per category.', labelNames: ['category'], registers: [this.registry] });
  private readonly httpRequests: Counter<'method' | 'route' | 'status'> | undefined;
  private readonly subscriptionPosts: Counter<'result'> | undefined;
  private readonly rateLimited: Counter | undefined;

  constructor(options: { http: boolean }) {
    collectDefaultMetrics({ register: this.registry });
    if (options.http) {
      this.httpRequests = new Counter({ name: 'pushctl_http_requests_total', help: 'HTTP requests answered, by method, route pattern and status.', labelNames: ['method', 'route', 'status'], registers: [this.registry] });
      this.subscriptionPosts = new Counter({ name: 'pushctl_subscription_posts_total', help: 'POST /subscription requests by result (created, updated, rejected, rate_limited, error).', labelNames: ['result'], registers: [this.registry] });
      this.rateLimited = new Counter({ name: 'pushctl_http_rate_limited_total', help: 'Requests refused by the per-address rate limit (429).', registers: [this.registry] });
    }
  }

  readonly deliveryObserver: DeliveryObserver = {
    deliveryRecorded: (outcome: DeliveryOutcome, endpoint: string | null) => this.deliveries.inc({ outcome, origin: endpoint === null ? 'none' : originOf(endpoint) }),
    pushResponse: (endpoint: string, status: number | undefined, seconds: number) =>
      this.pushSeconds.observe({ origin: originOf(endpoint), status_class: status === undefined ? 'error' : `${Math.floor(status / 100)}xx` }, seconds),
  };

  /** One answered request; `route` is the matched pattern (never the raw path: bounded label values). */
  httpRequest(method: string, route: string, status: number): void {
    this.httpRequests?.inc({ method, route, status: String(status) });
    if (status === 429) this.rateLimited?.inc();
    if (method === 'POST' && route === '/subscription') this.subscriptionPosts?.inc({ result: subscriptionResult(status) });
  }

  /** The exposition text, with the gauges read from the store now. */
  async scrape(ctx: Context): Promise<string> {
    const g = await storeGauges(ctx);
    this.notifications.reset();
    for (const { status, count } of g.notificationsByStatus) this.notifications.set({ status }, count);
    this.overdue.set(g.notificationsOverdue);
    this.due.set(g.deliveriesDue);
    this.deferred.set(g.deliveriesDeferred);
    this.subscriptions.set(g.subscriptions);
    this.categorySubscriptions.reset();
    for (const { category, count } of g.subscriptionsByCategory) this.categorySubscriptions.set({ category }, count);
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function subscriptionResult(status: number): string {
  if (status === 201) return 'created';
  if (status >= 200 && status < 300) return 'updated';
  if (status === 429) return 'rate_limited';
  return status >= 500 ? 'error' : 'rejected';
}

/** scheme://host[:port] without a URL parse per message (endpoints were validated on the way in). */
export function originOf(endpoint: string): string {
  const start = endpoint.indexOf('//');
  if (start < 0) return 'invalid';
  const end = endpoint.indexOf('/', start + 2);
  return (end < 0 ? endpoint : endpoint.slice(0, end)).toLowerCase();
}
