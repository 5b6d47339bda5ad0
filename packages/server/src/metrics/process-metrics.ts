/**
 * Node process metrics (CPU, memory, heap, event loop lag, GC, handles, file descriptors) via
 * prom-client's collectDefaultMetrics. They describe the process, not a server, and collecting
 * them installs a GC observer and an event loop monitor that are never removed: so they live
 * in one private registry per process, created on first use, and every server appends it to
 * its own scrape. The global default registry is never touched.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';

let registry: Registry | undefined;

export function processMetricsRegistry(): Registry {
  if (registry === undefined) {
    registry = new Registry();
    collectDefaultMetrics({ register: registry });
  }
  return registry;
}
