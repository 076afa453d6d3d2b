/* model.c - lifetimes of the model structs and their lists. */
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void env_cleanup(struct env *e) {
    if (e == NULL) return;
    free(e->name);
    free(e->description);
    json_decref(e->grants);
    memset(e, 0, sizeof(*e));
}

void job_cleanup(struct job *j) {
    if (j == NULL) return;
    free(j->name);
    free(j->description);
    memset(j, 0, sizeof(*j));
}

void task_cleanup(struct task *t) {
    if (t == NULL) return;
    free(t->name);
    free(t->plugin);
    memset(t, 0, sizeof(*t));
}

void var_cleanup(struct var *v) {
    if (v == NULL) return;
    free(v->name);
    free(v->description);
    json_decref(v->value);
    json_decref(v->values);
    memset(v, 0, sizeof(*v));
}

void override_cleanup(struct override *o) {
    if (o == NULL) return;
    json_decref(o->value);
    memset(o, 0, sizeof(*o));
}

void user_cleanup(struct user *u) {
    if (u == NULL) return;
    free(u->name);
    free(u->role);
    free(u->password_hash);
    memset(u, 0, sizeof(*u));
}

void token_cleanup(struct token *t) {
    if (t == NULL) return;
    free(t->name);
    free(t->hash);
    memset(t, 0, sizeof(*t));
}

DMT_LIST_FUNCS(env)
DMT_LIST_FUNCS(job)
DMT_LIST_FUNCS(task)
DMT_LIST_FUNCS(var)
DMT_LIST_FUNCS(override)

void meta_etag(const char *kind, const struct meta *m, char *out, size_t len) {
    snprintf(out, len, "\"%s-%lld-%lld\"", kind, (long long)m->id, (long long)m->version);
}

json_t *value_public(const json_t *value, bool secret) {
    if (secret) return json_pack("{s:b, s:b}", "secret", 1, "set", value != NULL);
    return value != NULL ? json_deep_copy(value) : json_null();
}
