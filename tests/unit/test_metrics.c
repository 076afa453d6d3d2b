/* test_metrics.c - the /metrics exposition (core/metrics.c). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"

/* The counters are process-wide: every test uses label values of its own. */

Test(metrics, help_type_and_gauges) {
    char *t = metrics_render(3, 2);
    cr_assert_not_null(strstr(t, "# HELP dmt_runs_total "));
    cr_assert_not_null(strstr(t, "# TYPE dmt_runs_total counter\n"));
    cr_assert_not_null(strstr(t, "# TYPE dmt_task_duration_seconds histogram\n"));
    cr_assert_not_null(strstr(t, "\ndmt_runs_queued 3\n"));
    cr_assert_not_null(strstr(t, "\ndmt_runs_in_progress 2\n"));
    free(t);
}

Test(metrics, histogram_buckets_are_cumulative) {
    char *before = metrics_render(0, 0);
    metrics_task_duration(0.05);
    metrics_task_duration(0.7);
    metrics_task_duration(1000);
    char *t = metrics_render(0, 0);
    /* Every observation is counted, each in the buckets at and above it. */
    cr_assert_not_null(strstr(t, "dmt_task_duration_seconds_bucket{le=\"0.1\"} 1\n"));
    cr_assert_not_null(strstr(t, "dmt_task_duration_seconds_bucket{le=\"0.5\"} 1\n"));
    cr_assert_not_null(strstr(t, "dmt_task_duration_seconds_bucket{le=\"1\"} 2\n"));
    cr_assert_not_null(strstr(t, "dmt_task_duration_seconds_bucket{le=\"300\"} 2\n"));
    cr_assert_not_null(strstr(t, "dmt_task_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
    cr_assert_not_null(strstr(t, "dmt_task_duration_seconds_count 3\n"));
    free(before);
    free(t);
}

Test(metrics, label_values_are_escaped) {
    metrics_run_finished("a\"b\\c\nd", "prod", "failed");
    metrics_run_finished("a\"b\\c\nd", "prod", "failed");
    metrics_http_request("/api/v1/runs/*", 201);
    char *t = metrics_render(0, 0);
    cr_assert_not_null(strstr(
        t, "dmt_runs_total{job=\"a\\\"b\\\\c\\nd\",environment=\"prod\",status=\"failed\"} 2\n"));
    cr_assert_not_null(
        strstr(t, "dmt_http_requests_total{route=\"/api/v1/runs/*\",status=\"201\"} 1\n"));
    free(t);
}

Test(metrics, log_bytes_add_up) {
    metrics_log_bytes(10);
    metrics_log_bytes(32);
    char *t = metrics_render(0, 0);
    cr_assert_not_null(strstr(t, "\ndmt_log_bytes_total 42\n"));
    free(t);
}
