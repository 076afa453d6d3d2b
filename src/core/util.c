/* util.c - logging, assertions and small helpers. */
#include "core/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;

void dmt_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "dmt: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}

void log_set_level(enum log_level lvl) { min_level = lvl; }

void log_msg(enum log_level lvl, const char *fmt, ...) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (lvl < min_level) return;
    char ts[32], line[1024];
    util_now_rfc3339(ts, sizeof(ts));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One write per line so lines of concurrent threads never interleave. */
    fprintf(stderr, "%s %s %s\n", ts, names[lvl], line);
}

void util_now_rfc3339(char *out, size_t len) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    util_ms_rfc3339((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, out, len);
}

void util_ms_rfc3339(int64_t ms, char *out, size_t len) {
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

char *util_strdup(const char *s) {
    if (s == NULL) return NULL;
    char *d = strdup(s);
    if (d == NULL) abort();
    return d;
}

bool util_parse_i64(const char *s, int64_t *out) {
    if (s == NULL || *s == '\0') return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') return false;
    *out = v;
    return true;
}
