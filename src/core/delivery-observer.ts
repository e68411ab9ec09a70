/**
 * What a delivery run reports as it goes, for whoever watches (the faces' metrics). The core only
 * calls it; the faces pass one in through the Context, so the core knows nothing of Prometheus.
 * Calls are synchronous and must be cheap: they happen once per push request.
 */

/** What became of one delivery attempt; `retried` is an attempt that will be made again later. */
export type DeliveryOutcome = 'sent' | 'gone' | 'failed' | 'retried' | 'expired' | 'capped';

export interface DeliveryObserver {
  /** One answer recorded in the ledger. `endpoint` is null when the subscription was removed before delivery. */
  deliveryRecorded(outcome: DeliveryOutcome, endpoint: string | null): void;
  /** One request to a push service and how long it took; `status` is undefined when no HTTP answer came. */
  pushResponse(endpoint: string, status: number | undefined, seconds: number): void;
}
