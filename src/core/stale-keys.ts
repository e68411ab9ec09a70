/**
 * Stale keys: a subscription whose pushes are refused as not matching its VAPID key is marked
 * `stale-key` (subscriptions list --stale-key) and left out of broadcasts, instead of being tried
 * and refused on every send. Two signs, per send: the push service says so outright
 * (`VapidPkHashMismatch` in the error body, as Mozilla's autopush answers), or one endpoint gets a
 * 403 while the same push service accepted others of this send (so the key and JWT are fine in
 * general: this subscription was made under another key). A 403 from a service that accepted
 * nothing is left alone: that is the operator's key problem (the rejection streak stops the send).
 */
import type { PushOutcome } from '../push/types.js';

const MISMATCH = /VapidPkHashMismatch/i;

export class StaleKeyWatch {
  /** Refused outright: the body names the mismatch. */
  private readonly certain = new Set<number>();
  /** origin -> subscriptions refused with a 403 */
  private readonly refused = new Map<string, Set<number>>();
  /** Origins (scheme://host[:port]) that accepted at least one push of this send. */
  private readonly accepted = new Set<string>();

  seen(endpoint: string, subscriptionId: number, outcome: PushOutcome): void {
    if (outcome.kind === 'delivered') {
      this.accepted.add(originPrefix(endpoint));
    } else if (outcome.kind === 'rejected') {
      if (MISMATCH.test(outcome.message ?? '')) this.certain.add(subscriptionId);
      else if (outcome.status === 403) {
        const origin = originPrefix(endpoint);
        let ids = this.refused.get(origin);
        if (!ids) this.refused.set(origin, (ids = new Set()));
        ids.add(subscriptionId);
      }
    }
  }

  /** The subscriptions to mark now. */
  stale(): number[] {
    const ids = new Set(this.certain);
    for (const [origin, refused] of this.refused) if (this.accepted.has(origin)) for (const id of refused) ids.add(id);
    return [...ids];
  }
}

/** scheme://authority of an endpoint, by string (no URL parse per message: this runs on every success). */
function originPrefix(endpoint: string): string {
  const slash = endpoint.indexOf('/', endpoint.indexOf('//') + 2);
  return (slash < 0 ? endpoint : endpoint.slice(0, slash)).toLowerCase();
}
