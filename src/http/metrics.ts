import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics of one app: requests and their latency per route, and group commit
 * (batch sizes, commit latency, entries by result). A registry per app keeps tests apart.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'custos_http_requests_total',
    help: 'HTTP requests answered, by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'custos_http_request_duration_seconds',
    help: 'HTTP request latency by method and route.',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly batchSize = new Histogram({
    name: 'custos_ledger_batch_entries',
    help: 'Entries decided per group-commit batch.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192],
    registers: [this.registry],
  });
  private readonly commitLatency = new Histogram({
    name: 'custos_ledger_commit_seconds',
    help: 'Time from a batch being taken from the queue to its commit.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  private readonly entries = new Counter({
    name: 'custos_ledger_entries_total',
    help: 'Ledger entries by result: ok (written), exists (replayed), refused.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  private readonly closes = new Counter({
    name: 'custos_eod_closes_total',
    help: 'Platform day closes by outcome: closed, or failed (an invariant failed; an alert was raised).',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  constructor(collectProcess = true) {
    if (collectProcess) collectDefaultMetrics({ register: this.registry, prefix: 'custos_' });
  }

  observeBatch(entries: number, written: number, replayed: number, seconds: number): void {
    this.batchSize.observe(entries);
    this.commitLatency.observe(seconds);
    this.entries.inc({ result: 'ok' }, written);
    this.entries.inc({ result: 'exists' }, replayed);
    this.entries.inc({ result: 'refused' }, entries - written - replayed);
  }

  observeClose(status: 'closed' | 'failed'): void {
    this.closes.inc({ status });
  }

  register(app: FastifyInstance): void {
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      this.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
      this.latency.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    });
  }
}
