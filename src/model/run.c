/* run.c - lifetimes and status names of runs, task results and logs. */
#include "model/run.h"

#include <stdlib.h>
#include <string.h>

void run_cleanup(struct run *r) {
    if (r == NULL) return;
    free(r->job);
    free(r->environment);
    free(r->triggered_by);
    free(r->owner);
    json_decref(r->tags);
    json_decref(r->snapshot);
    memset(r, 0, sizeof(*r));
}

void task_result_cleanup(struct task_result *t) {
    if (t == NULL) return;
    free(t->name);
    free(t->error);
    json_decref(t->outputs);
    memset(t, 0, sizeof(*t));
}

void log_chunk_cleanup(struct log_chunk *c) {
    if (c == NULL) return;
    free(c->data);
    memset(c, 0, sizeof(*c));
}

void worker_cleanup(struct worker *w) {
    if (w == NULL) return;
    free(w->name);
    free(w->kind);
    json_decref(w->tags);
    json_decref(w->runs);
    memset(w, 0, sizeof(*w));
}

bool tags_subset(const json_t *tags, const json_t *have) {
    size_t i, j;
    const json_t *t, *h;
    json_array_foreach(tags, i, t) {
        bool found = false;
        json_array_foreach(have, j, h) found = found || json_equal(t, h);
        if (!found) return false;
    }
    return true;
}

DMT_LIST_FUNCS(run)
DMT_LIST_FUNCS(worker)
DMT_LIST_FUNCS(task_result)
DMT_LIST_FUNCS(log_chunk)

static const char *const run_names[] = {
#define X(n, s) s,
    RUN_STATUS_MAP(X)
#undef X
};

static const char *const result_names[] = {
#define X(n, s) s,
    RESULT_STATUS_MAP(X)
#undef X
};

const char *run_status_name(int s) {
    return s >= 0 && s < (int)(sizeof(run_names) / sizeof(run_names[0])) ? run_names[s] : "unknown";
}

int run_status_parse(const char *s) {
    for (size_t i = 0; s != NULL && i < sizeof(run_names) / sizeof(run_names[0]); i++)
        if (strcmp(s, run_names[i]) == 0) return (int)i;
    return -1;
}

const char *result_status_name(int s) {
    return s >= 0 && s < (int)(sizeof(result_names) / sizeof(result_names[0])) ? result_names[s]
                                                                              : "unknown";
}

int result_status_parse(const char *s) {
    for (size_t i = 0; s != NULL && i < sizeof(result_names) / sizeof(result_names[0]); i++)
        if (strcmp(s, result_names[i]) == 0) return (int)i;
    return -1;
}

bool run_status_terminal(int s) { return s != RUN_QUEUED && s != RUN_RUNNING; }
