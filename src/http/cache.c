/* cache.c - the answer cache (see cache.h): a small open hash table. */
#include "http/cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 256

struct slot {
    char *key;
    int64_t seq;
    struct cache_entry *e; /* holds one reference */
};

static struct slot slots[SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(const char *key) {
    /* FNV-1a; collisions simply replace each other. */
    uint64_t h = 1469598103934665603ull;
    for (; *key != '\0'; key++) h = (h ^ (unsigned char)*key) * 1099511628211ull;
    return (size_t)(h % SLOTS);
}

void http_cache_release(struct cache_entry *e) {
    if (e == NULL || atomic_fetch_sub(&e->refs, 1) != 1) return;
    MHD_destroy_response(e->resp);
    free(e);
}

struct cache_entry *http_cache_get(const char *key, int64_t seq) {
    struct slot *s = &slots[slot_of(key)];
    struct cache_entry *e = NULL;
    pthread_mutex_lock(&lock);
    if (s->key != NULL && s->seq == seq && strcmp(s->key, key) == 0) {
        e = s->e;
        atomic_fetch_add(&e->refs, 1);
    }
    pthread_mutex_unlock(&lock);
    return e;
}

void http_cache_put(const char *key, int64_t seq, unsigned status, struct MHD_Response *resp,
                    const char *etag) {
    char *k = strdup(key);
    struct cache_entry *e = malloc(sizeof(*e));
    if (k == NULL || e == NULL) {
        free(k);
        free(e);
        MHD_destroy_response(resp);
        return;
    }
    e->resp = resp;
    e->status = status;
    snprintf(e->etag, sizeof(e->etag), "%s", etag ? etag : "");
    atomic_init(&e->refs, 1);
    struct slot *s = &slots[slot_of(key)];
    pthread_mutex_lock(&lock);
    if (s->key != NULL && strcmp(s->key, key) == 0 && s->seq > seq) {
        /* A newer answer is already there. */
        pthread_mutex_unlock(&lock);
        free(k);
        http_cache_release(e);
        return;
    }
    char *old_key = s->key;
    struct cache_entry *old = s->e;
    s->key = k;
    s->seq = seq;
    s->e = e;
    pthread_mutex_unlock(&lock);
    /* Outside the lock: the last release destroys a response. */
    free(old_key);
    http_cache_release(old);
}

void http_cache_clear(void) {
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < SLOTS; i++) {
        free(slots[i].key);
        http_cache_release(slots[i].e);
        memset(&slots[i], 0, sizeof(slots[i]));
    }
    pthread_mutex_unlock(&lock);
}
