/*
 * metrics.c - the counters behind /metrics (see metrics.h).
 *
 * A few small tables behind one mutex: every call is a short critical
 * section, and the exposition copies nothing but text. Labelled series are
 * kept in fixed-size tables so a flood of distinct label values (jobs come
 * and go, clients send odd paths) cannot grow memory without bound: a
 * series that does not fit is counted in dmt_metrics_dropped_total.
 */
#include "core/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RUN_SERIES  1024
#define MAX_HTTP_SERIES 512
#define LABEL_MAX       128

static const double buckets[] = {0.1, 0.5, 1, 2, 5, 10, 30, 60, 300};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct run_series {
    char job[LABEL_MAX], environment[LABEL_MAX], status[32];
    uint64_t n;
};

struct http_series {
    char route[LABEL_MAX];
    int status;
    uint64_t n;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct run_series runs[MAX_RUN_SERIES];
static size_t nruns;
static struct http_series https[MAX_HTTP_SERIES];
static size_t nhttps;
static uint64_t bucket_counts[NBUCKETS]; /* not cumulative; summed when rendered */
static uint64_t duration_count;
static double duration_sum;
static uint64_t log_bytes;
static uint64_t dropped;

/* Copies s (NULL as "") into dst, cut at a UTF-8 character boundary. */
static void copy_label(char *dst, size_t len, const char *s) {
    if (s == NULL) s = "";
    size_t n = strlen(s);
    if (n >= len) {
        n = len - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

void metrics_run_finished(const char *job, const char *environment, const char *status) {
    char j[LABEL_MAX], e[LABEL_MAX], st[32];
    copy_label(j, sizeof(j), job);
    copy_label(e, sizeof(e), environment);
    copy_label(st, sizeof(st), status);
    pthread_mutex_lock(&lock);
    size_t i = 0;
    while (i < nruns && (strcmp(runs[i].job, j) != 0 || strcmp(runs[i].environment, e) != 0 ||
                         strcmp(runs[i].status, st) != 0))
        i++;
    if (i == nruns && nruns < MAX_RUN_SERIES) {
        memcpy(runs[i].job, j, sizeof(j));
        memcpy(runs[i].environment, e, sizeof(e));
        memcpy(runs[i].status, st, sizeof(st));
        runs[i].n = 0;
        nruns++;
    }
    if (i < nruns)
        runs[i].n++;
    else
        dropped++;
    pthread_mutex_unlock(&lock);
}

void metrics_task_duration(double seconds) {
    if (!(seconds >= 0)) seconds = 0; /* also catches NaN */
    pthread_mutex_lock(&lock);
    size_t b = 0;
    while (b < NBUCKETS && seconds > buckets[b])
        b++;
    if (b < NBUCKETS) bucket_counts[b]++;
    duration_count++;
    duration_sum += seconds;
    pthread_mutex_unlock(&lock);
}

void metrics_log_bytes(size_t n) {
    pthread_mutex_lock(&lock);
    log_bytes += n;
    pthread_mutex_unlock(&lock);
}

void metrics_http_request(const char *route, int status) {
    char rt[LABEL_MAX];
    copy_label(rt, sizeof(rt), route);
    pthread_mutex_lock(&lock);
    size_t i = 0;
    while (i < nhttps && (https[i].status != status || strcmp(https[i].route, rt) != 0))
        i++;
    if (i == nhttps && nhttps < MAX_HTTP_SERIES) {
        memcpy(https[i].route, rt, sizeof(rt));
        https[i].status = status;
        https[i].n = 0;
        nhttps++;
    }
    if (i < nhttps)
        https[i].n++;
    else
        dropped++;
    pthread_mutex_unlock(&lock);
}

/* --- the exposition -------------------------------------------------------- */

/* A growing text buffer; out of memory aborts, like util_strdup. */
struct text {
    char *s;
    size_t len, cap;
};

static void grow(struct text *t, size_t need) {
    if (t->len + need + 1 <= t->cap) return;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + need + 1)
        cap *= 2;
    char *s = realloc(t->s, cap);
    if (s == NULL) abort();
    t->s = s;
    t->cap = cap;
}

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) abort();
    grow(t, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* A label value as the text format wants it: \ " and newline escaped. */
static void add_label(struct text *t, const char *v) {
    grow(t, 2 * strlen(v));
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"') {
            t->s[t->len++] = '\\';
            t->s[t->len++] = *v;
        } else if (*v == '\n') {
            t->s[t->len++] = '\\';
            t->s[t->len++] = 'n';
        } else {
            t->s[t->len++] = *v;
        }
    }
    t->s[t->len] = '\0';
}

static void header(struct text *t, const char *name, const char *type, const char *help) {
    add(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *metrics_render(unsigned queued, unsigned in_progress) {
    struct text t = {0};
    grow(&t, 0);
    t.s[0] = '\0';
    pthread_mutex_lock(&lock);

    header(&t, "dmt_runs_total", "counter", "Runs that ended, by job, environment and status.");
    for (size_t i = 0; i < nruns; i++) {
        add(&t, "dmt_runs_total{job=\"");
        add_label(&t, runs[i].job);
        add(&t, "\",environment=\"");
        add_label(&t, runs[i].environment);
        add(&t, "\",status=\"");
        add_label(&t, runs[i].status);
        add(&t, "\"} %llu\n", (unsigned long long)runs[i].n);
    }

    header(&t, "dmt_runs_queued", "gauge", "Runs waiting for an executor slot.");
    add(&t, "dmt_runs_queued %u\n", queued);
    header(&t, "dmt_runs_in_progress", "gauge", "Runs being executed.");
    add(&t, "dmt_runs_in_progress %u\n", in_progress);

    header(&t, "dmt_task_duration_seconds", "histogram",
           "Duration of task attempts, from start to exit.");
    uint64_t cum = 0;
    for (size_t b = 0; b < NBUCKETS; b++) {
        cum += bucket_counts[b];
        add(&t, "dmt_task_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets[b],
            (unsigned long long)cum);
    }
    add(&t, "dmt_task_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
        (unsigned long long)duration_count);
    add(&t, "dmt_task_duration_seconds_sum %.6f\n", duration_sum);
    add(&t, "dmt_task_duration_seconds_count %llu\n", (unsigned long long)duration_count);

    header(&t, "dmt_log_bytes_total", "counter", "Bytes of task output stored in run logs.");
    add(&t, "dmt_log_bytes_total %llu\n", (unsigned long long)log_bytes);

    header(&t, "dmt_http_requests_total", "counter",
           "HTTP requests answered, by route and status.");
    for (size_t i = 0; i < nhttps; i++) {
        add(&t, "dmt_http_requests_total{route=\"");
        add_label(&t, https[i].route);
        add(&t, "\",status=\"%d\"} %llu\n", https[i].status, (unsigned long long)https[i].n);
    }

    header(&t, "dmt_metrics_dropped_total", "counter",
           "Observations not counted because their label table was full.");
    add(&t, "dmt_metrics_dropped_total %llu\n", (unsigned long long)dropped);

    pthread_mutex_unlock(&lock);
    return t.s;
}
