/**
 * How many connections to open ahead to each push service, from the endpoints of a send's first
 * recipients: each origin's share of them, of the requests the send keeps in flight (at least one,
 * never more than it has recipients in the sample). The first requests go out in the same order,
 * so these are the connections they would open themselves, only sooner.
 */
export function preconnectPlan(endpoints: readonly string[], inFlight: number, refusal?: (endpoint: string) => string | undefined): Map<string, number> {
  const byOrigin = new Map<string, number>();
  let total = 0;
  for (const endpoint of endpoints) {
    let origin: string;
    try {
      const url = new URL(endpoint);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') continue;
      origin = url.origin;
    } catch {
      continue;
    }
    // Never open a connection to where no request may go.
    if (refusal?.(endpoint)) continue;
    byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + 1);
    total += 1;
  }
  const plan = new Map<string, number>();
  for (const [origin, count] of byOrigin) plan.set(origin, Math.min(count, Math.max(1, Math.ceil((inFlight * count) / total))));
  return plan;
}
