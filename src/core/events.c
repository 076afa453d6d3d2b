/* events.c - the in-memory change feed (see events.h). */
#include "core/events.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/notify.h"

struct event {
    uint64_t id;
    char data[EVENTS_DATA_MAX];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* ring[id % EVENTS_KEEP] holds event id; last is the newest id. The array
 * lives in .bss: pages are touched only as events arrive. */
static struct event ring[EVENTS_KEEP];
static uint64_t last;

/* Appends s as a JSON string (quoted, escaped, cut to fit) at out[*pos]. */
static void put_str(char *out, size_t cap, size_t *pos, const char *s) {
    size_t p = *pos;
    if (p + 3 >= cap) return;
    out[p++] = '"';
    for (; s != NULL && *s != '\0' && p + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[p++] = '\\';
            out[p++] = (char)c;
        } else if (c < 0x20) {
            p += (size_t)snprintf(out + p, cap - p, "\\u%04x", c);
        } else {
            out[p++] = (char)c;
        }
    }
    out[p++] = '"';
    out[p] = '\0';
    *pos = p;
}

static void put_raw(char *out, size_t cap, size_t *pos, const char *s) {
    int n = snprintf(out + *pos, cap - *pos, "%s", s);
    if (n > 0) *pos += (size_t)n < cap - *pos ? (size_t)n : cap - *pos - 1;
}

void events_publish(const char *kind, const char *name, const char *path, int64_t version,
                    const char *action, const char *status) {
    char ts[32], num[48];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);

    pthread_mutex_lock(&lock);
    uint64_t id = ++last;
    struct event *e = &ring[id % EVENTS_KEEP];
    char *o = e->data;
    size_t cap = sizeof(e->data), pos = 0;
    e->id = id;
    snprintf(num, sizeof(num), "{\"id\":%llu,\"kind\":", (unsigned long long)id);
    put_raw(o, cap, &pos, num);
    put_str(o, cap, &pos, kind);
    put_raw(o, cap, &pos, ",\"name\":");
    put_str(o, cap, &pos, name);
    put_raw(o, cap, &pos, ",\"action\":");
    put_str(o, cap, &pos, action);
    put_raw(o, cap, &pos, ",\"ts\":");
    put_str(o, cap, &pos, ts);
    snprintf(num, sizeof(num), ",\"version\":%lld", (long long)version);
    put_raw(o, cap, &pos, num);
    if (status != NULL) {
        put_raw(o, cap, &pos, ",\"status\":");
        put_str(o, cap, &pos, status);
    }
    if (path != NULL) {
        put_raw(o, cap, &pos, ",\"path\":");
        put_str(o, cap, &pos, path);
    }
    put_raw(o, cap, &pos, "}");
    pthread_mutex_unlock(&lock);
    notify_post();
}

uint64_t events_last_id(void) {
    pthread_mutex_lock(&lock);
    uint64_t id = last;
    pthread_mutex_unlock(&lock);
    return id;
}

int events_next(uint64_t after, uint64_t *id, char *out) {
    int rc;
    pthread_mutex_lock(&lock);
    uint64_t oldest = last > EVENTS_KEEP ? last - EVENTS_KEEP + 1 : 1;
    if (after >= last) {
        rc = 0;
    } else if (after + 1 < oldest) {
        *id = oldest - 1;
        rc = -1;
    } else {
        const struct event *e = &ring[(after + 1) % EVENTS_KEEP];
        *id = e->id;
        memcpy(out, e->data, sizeof(e->data));
        rc = 1;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}
