/* util.h - logging, assertions and small helpers shared by every module. */
#ifndef DMT_UTIL_H
#define DMT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Invariants: always compiled in, never used on input. */
#define dmt_assert(cond)                                                     \
    ((cond) ? (void)0 : dmt_assert_fail(#cond, __FILE__, __LINE__))
void dmt_assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
void log_set_level(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* Writes the current UTC time as RFC 3339 with milliseconds
 * ("2026-12-04T20:36:07.123Z") into out (at least 32 bytes). */
void util_now_rfc3339(char *out, size_t len);
/* Unix milliseconds (>= 0) as RFC 3339 UTC with milliseconds. */
void util_ms_rfc3339(int64_t ms, char *out, size_t len);

/* strdup that aborts on allocation failure; NULL gives NULL. The caller
 * frees the result. */
char *util_strdup(const char *s);

/* Parses a whole decimal int64; false on any junk or overflow. */
bool util_parse_i64(const char *s, int64_t *out);

#endif
