/**
 * Every Alibaba Cloud API call as it ends: action, outcome and duration, for the daemon's metrics.
 * A small module of its own so that listening does not load the SDK (src/eni/index.ts loads the
 * cloud movers and the SDK on first use); every ECS and VPC call is reported here (cloud-client.ts).
 */

/** 'success', or why the call failed (EcsApiError's kind, e.g. 'api', 'timeout'). */
export type CloudCallOutcome = 'success' | 'api' | 'network' | 'timeout' | 'credentials' | 'config';

export type CloudCallListener = (action: string, outcome: CloudCallOutcome, seconds: number) => void;

const listeners = new Set<CloudCallListener>();

/** Listen to every cloud API call of this process; returns the function that stops listening. */
export function onCloudCall(listener: CloudCallListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** One call ended (ecs-api.ts). A listener that throws never fails the call. */
export function reportCloudCall(action: string, outcome: CloudCallOutcome, seconds: number): void {
  for (const l of listeners) {
    try {
      l(action, outcome, seconds);
    } catch {
      /* metrics must never break a failover */
    }
  }
}
