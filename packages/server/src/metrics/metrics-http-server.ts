/**
 * The metrics port (LONGBOW_METRICS_ADDR), plain HTTP/1.1 on node:http:
 *   GET /metrics  Prometheus text format
 *   GET /healthz  200 `{"status":"ok",...}` while serving, 503 `{"status":"starting"|"stopping"}`
 * Anything else is 404; methods other than GET and HEAD are 405. No authentication: the port
 * carries no data, only counters, and scrapers rarely hold tokens (bind it to a private
 * interface when that matters).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.ts';
import type { LongbowMetrics } from './longbow-metrics.ts';

export type HealthState = 'starting' | 'serving' | 'stopping';

export interface Health {
  state: HealthState;
  /** Extra fields for the /healthz body. */
  details?: Record<string, unknown>;
}

export interface MetricsHttpServerOptions {
  metrics: LongbowMetrics;
  /** Read on every /healthz request. */
  health(): Health;
  logger: Logger;
}

/** `host:port` or `[v6]:port` -> parts. */
export function splitHostPort(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  if (!match) throw new Error(`bad metrics address "${address}" (expected host:port)`);
  return { host: match[1] ?? match[2], port: Number(match[3]) };
}

function send(response: http.ServerResponse, status: number, contentType: string, body: string, head: boolean,
  extraHeaders: Record<string, string> = {}): void {
  response.writeHead(status, {
    'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...extraHeaders,
  });
  response.end(head ? undefined : body);
}

function sendJson(response: http.ServerResponse, status: number, value: unknown, head: boolean, extraHeaders?: Record<string, string>): void {
  send(response, status, 'application/json', `${JSON.stringify(value)}\n`, head, extraHeaders);
}

export class MetricsHttpServer {
  private readonly server: http.Server;

  constructor(private readonly options: MetricsHttpServerOptions) {
    this.server = http.createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        options.logger.error({ err: error, path: request.url }, 'Metrics endpoint failed');
        if (!response.headersSent) sendJson(response, 500, { status: 'error', message: 'internal error' }, false);
        else response.destroy();
      });
    });
  }

  /** Binds `host:port` (port 0 picks a free port); resolves to the bound port. */
  async listen(address: string): Promise<number> {
    const { host, port } = splitHostPort(address);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops listening and closes every connection, idle or not. */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?', 1)[0];
    const head = request.method === 'HEAD';
    if (path !== '/metrics' && path !== '/healthz') {
      sendJson(response, 404, { status: 'error', message: `no such endpoint: ${path} (try /metrics or /healthz)` }, head);
      return;
    }
    if (request.method !== 'GET' && !head) {
      sendJson(response, 405, { status: 'error', message: `method ${request.method ?? ''} not allowed` }, false, { allow: 'GET, HEAD' });
      return;
    }
    if (path === '/healthz') {
      const health = this.options.health();
      const status = health.state === 'serving' ? 'ok' : health.state;
      sendJson(response, health.state === 'serving' ? 200 : 503, { status, ...health.details }, head);
      return;
    }
    const body = await this.options.metrics.scrape();
    send(response, 200, this.options.metrics.contentType, body, head);
  }
}
