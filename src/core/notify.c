/* notify.c - the in-process change notifier (see notify.h). */
#include "core/notify.h"

#include <pthread.h>
#include <stdatomic.h>

#define MAX_HOOKS 16

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    notify_hook_cb fn;
    void *arg;
    unsigned mask;
} hooks[MAX_HOOKS];
static atomic_uint_fast64_t counter;

void notify_post(unsigned what) {
    atomic_fetch_add(&counter, 1);
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_HOOKS; i++)
        if (hooks[i].fn != NULL && (hooks[i].mask & what) != 0) hooks[i].fn(hooks[i].arg);
    pthread_mutex_unlock(&lock);
}

uint64_t notify_counter(void) { return atomic_load(&counter); }

int notify_add_hook(notify_hook_cb fn, void *arg, unsigned mask) {
    int id = -1;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_HOOKS && id < 0; i++)
        if (hooks[i].fn == NULL) {
            hooks[i].fn = fn;
            hooks[i].arg = arg;
            hooks[i].mask = mask;
            id = i;
        }
    pthread_mutex_unlock(&lock);
    return id;
}

void notify_remove_hook(int id) {
    if (id < 0 || id >= MAX_HOOKS) return;
    pthread_mutex_lock(&lock);
    hooks[id].fn = NULL;
    hooks[id].arg = NULL;
    pthread_mutex_unlock(&lock);
}
