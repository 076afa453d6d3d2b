/*
 * metrics.h - counters for /metrics (Prometheus text format 0.0.4).
 *
 * Cheap to call from any thread. Label values are copied.
 */
#ifndef DMT_METRICS_H
#define DMT_METRICS_H

#include <stddef.h>

/* dmt_runs_total{job, environment, status} */
void metrics_run_finished(const char *job, const char *environment, const char *status);
/* dmt_task_duration_seconds histogram */
void metrics_task_duration(double seconds);
/* dmt_log_bytes_total */
void metrics_log_bytes(size_t n);
/* dmt_http_requests_total{route, status} */
void metrics_http_request(const char *route, int status);

/* The whole exposition as text, with the gauges dmt_runs_queued and
 * dmt_runs_in_progress filled by the given values. Caller frees. */
char *metrics_render(unsigned queued, unsigned in_progress);

#endif
