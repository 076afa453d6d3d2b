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
    json_decref(e->worker_tags);
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
    free(t->user);
    memset(t, 0, sizeof(*t));
}

void session_cleanup(struct session *s) {
    if (s == NULL) return;
    free(s->hash);
    free(s->csrf_hash);
    memset(s, 0, sizeof(*s));
}

void audit_entry_cleanup(struct audit_entry *a) {
    if (a == NULL) return;
    free(a->user);
    free(a->action);
    free(a->kind);
    free(a->name);
    json_decref(a->detail);
    memset(a, 0, sizeof(*a));
}

static const char *const role_names[] = {
#define X(n, s) s,
    ROLE_MAP(X)
#undef X
};

int role_parse(const char *s) {
    for (int i = ROLE_VIEWER; s != NULL && i <= ROLE_ADMIN; i++)
        if (strcmp(s, role_names[i]) == 0) return i;
    return -1;
}

const char *role_name(int role) {
    return role >= 0 && role <= ROLE_ADMIN ? role_names[role] : "none";
}

int env_check_grant(const struct env *e, const struct actor *a, struct dmt_err *err) {
    if (!e->protected_ || (a != NULL && a->role >= ROLE_ADMIN)) return DMT_OK;
    size_t i;
    json_t *g;
    json_array_foreach(e->grants, i, g) {
        if (a != NULL && a->name != NULL && json_is_string(g) &&
            strcmp(json_string_value(g), a->name) == 0)
            return DMT_OK;
    }
    return dmt_err_set(err, DMT_ERR_FORBIDDEN,
                       "environment '%s' is protected: only admins and the users in its grants "
                       "may run against it or change its overrides",
                       e->name);
}

DMT_LIST_FUNCS(env)
DMT_LIST_FUNCS(job)
DMT_LIST_FUNCS(task)
DMT_LIST_FUNCS(var)
DMT_LIST_FUNCS(override)
DMT_LIST_FUNCS(user)
DMT_LIST_FUNCS(token)
DMT_LIST_FUNCS(audit_entry)

void meta_etag(const char *kind, const struct meta *m, char *out, size_t len) {
    snprintf(out, len, "\"%s-%lld-%lld\"", kind, (long long)m->id, (long long)m->version);
}

json_t *value_public(const json_t *value, bool secret) {
    if (secret) return json_pack("{s:b, s:b}", "secret", 1, "set", value != NULL);
    return value != NULL ? json_deep_copy(value) : json_null();
}
