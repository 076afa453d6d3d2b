/* events.c - the in-memory change feed (see events.h). */
#include "core/events.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/bus.h"
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

/* The first id of this process: random, so that an id of another node
 * or of an earlier process is not mistaken for one of ours (it is then
 * ahead of us or out of the ring: the reader is told to reload). Fits a
 * JavaScript number. Called with the lock held. */
static void seed(void) {
    if (last != 0) return;
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) r = (uint32_t)time(NULL) ^ (uint32_t)getpid();
    last = (uint64_t)((r & 0x7fffffffu) | 1u) << 20;
}

/* Whether an event announces work for executors: a run created or
 * re-run, a cancel, a run queued again (by a sweep). */
static bool is_work(const char *body) {
    return strncmp(body, "\"kind\":\"run\"", 12) == 0 &&
           (strstr(body, "\"action\":\"created\"") != NULL ||
            strstr(body, "\"action\":\"rerun\"") != NULL ||
            strstr(body, "\"action\":\"cancel\"") != NULL ||
            strstr(body, "\"status\":\"queued\"") != NULL);
}

/* Adds the event whose JSON body (the members after "id") is body. */
static void add(const char *body) {
    pthread_mutex_lock(&lock);
    seed();
    uint64_t id = ++last;
    struct event *e = &ring[id % EVENTS_KEEP];
    e->id = id;
    int n = snprintf(e->data, sizeof(e->data), "{\"id\":%llu,%s}", (unsigned long long)id, body);
    if (n < 0 || (size_t)n >= sizeof(e->data)) /* cut: keep it JSON */
        snprintf(e->data, sizeof(e->data), "{\"id\":%llu,\"kind\":\"reset\"}",
                 (unsigned long long)id);
    pthread_mutex_unlock(&lock);
    notify_post(NOTIFY_CHANGE | (is_work(body) ? NOTIFY_WORK : 0));
}

void events_publish(const char *kind, const char *name, const char *path, int64_t version,
                    const char *action, const char *status) {
    char ts[32], num[48], body[EVENTS_DATA_MAX - 32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);

    char *o = body;
    size_t cap = sizeof(body), pos = 0;
    body[0] = '\0';
    put_raw(o, cap, &pos, "\"kind\":");
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
    add(body);
    bus_send(BUS_EVENT, body);
}

void events_ingest(const char *body) {
    /* It is sent on as one `data:` line: no line breaks, and it must fit. */
    size_t n = 0;
    for (; body[n] != '\0'; n++)
        if ((unsigned char)body[n] < 0x20) return;
    if (n == 0 || n >= EVENTS_DATA_MAX - 32 || body[0] != '"') return;
    add(body);
}

void events_gap(void) {
    pthread_mutex_lock(&lock);
    seed();
    last += EVENTS_KEEP; /* every reader now lies behind the ring */
    pthread_mutex_unlock(&lock);
    notify_post(NOTIFY_CHANGE);
}

uint64_t events_last_id(void) {
    pthread_mutex_lock(&lock);
    seed();
    uint64_t id = last;
    pthread_mutex_unlock(&lock);
    return id;
}

int events_next(uint64_t after, uint64_t *id, char *out) {
    int rc;
    pthread_mutex_lock(&lock);
    seed();
    uint64_t oldest = last > EVENTS_KEEP ? last - EVENTS_KEEP + 1 : 1;
    if (after >= last) {
        rc = 0;
    } else if (after + 1 < oldest || ring[(after + 1) % EVENTS_KEEP].id != after + 1) {
        /* Dropped, or never ours (the ring of a fresh start, a gap). */
        *id = last;
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
