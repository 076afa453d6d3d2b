/*
 * model.h - the objects of dmt (DESIGN.md §1-2) and the rules that hold
 * between them.
 *
 * Structs are plain data. Strings and json_t members are owned by the
 * struct and released by its *_cleanup function. A `value` of NULL means
 * "no value" (unset); otherwise it is a JSON value of the variable's type.
 */
#ifndef DMT_MODEL_H
#define DMT_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Every stored object carries these. */
struct meta {
    int64_t id;
    int64_t version;
    char created_at[32];
    char updated_at[32];
};

struct env {
    struct meta m;
    char *name;
    char *description; /* never NULL once loaded ("" when empty) */
    int position;      /* 1-based tab order */
    bool protected_;
    json_t *grants; /* array of user names, never NULL once loaded */
    /* Runs against it execute only on workers that have every one of
     * these tags (DESIGN.md §6); array of slugs, never NULL once loaded. */
    json_t *worker_tags;
};

struct job {
    struct meta m;
    char *name;
    char *description;
};

enum on_failure { ON_FAILURE_STOP = 0, ON_FAILURE_CONTINUE = 1 };

struct task {
    struct meta m;
    int64_t job_id;
    char *name;
    char *plugin;
    int position; /* 1-based */
    int on_failure;
    int timeout_s; /* 0: no timeout */
    int retries;
    bool enabled;
};

#define VAR_TYPE_MAP(X)                                                      \
    X(STRING, "string")                                                      \
    X(TEXT, "text")                                                          \
    X(INT, "int")                                                            \
    X(BOOL, "bool")                                                          \
    X(ENUM, "enum")                                                          \
    X(JSON, "json")

enum var_type {
#define X(n, s) VAR_##n,
    VAR_TYPE_MAP(X)
#undef X
};

struct var {
    struct meta m;
    int64_t task_id;
    char *name;
    int type;
    bool required;
    bool secret;
    bool custom; /* added by a user, not from the plugin schema */
    char *description;
    json_t *value;  /* the default; NULL when unset */
    json_t *values; /* allowed values of an enum, else NULL */
};

struct override {
    struct meta m;
    int64_t var_id;
    int64_t env_id;
    json_t *value; /* never NULL once stored */
};

struct user {
    struct meta m;
    char *name;
    char *role;
    char *password_hash;  /* argon2id string, NULL if none */
    int failed_logins;    /* failed logins in a row since the last good one */
    int64_t locked_until; /* Unix seconds; 0 when not locked */
};

struct token {
    struct meta m;
    char *name;
    int64_t user_id;
    char *hash; /* hex of a keyed hash of the token; never the token */
    char *user; /* the user's name (read by token_list and token_get only) */
};

/* A web session (DESIGN.md §7): the cookie's and the CSRF token's hashes. */
struct session {
    int64_t id;
    char *hash;
    int64_t user_id;
    char *csrf_hash;
    int64_t expires_at; /* Unix seconds */
};

/* One line of the audit log: who did what to which object, when. detail
 * never holds a secret value. */
struct audit_entry {
    int64_t id;
    char ts[32];
    char *user;
    char *action; /* create, update, delete, set, run, cancel, rerun, login, ... */
    char *kind;   /* environment, job, task, variable, override, run, user, token, session */
    char *name;   /* the object's path under /api/v1, or its name */
    json_t *detail;
};

/* Roles, in increasing power (DESIGN.md §7). ROLE_NONE: not signed in. */
#define ROLE_MAP(X)                                                          \
    X(NONE, "none")                                                          \
    X(VIEWER, "viewer")                                                      \
    X(OPERATOR, "operator")                                                  \
    X(EDITOR, "editor")                                                      \
    X(ADMIN, "admin")
enum role {
#define X(n, s) ROLE_##n,
    ROLE_MAP(X)
#undef X
};
/* The enum role of a name ("viewer"..."admin"), or -1 (also for "none"). */
int role_parse(const char *s);
const char *role_name(int role);

/* Who does something: the signed-in user (borrowed strings). */
struct actor {
    int64_t user_id;
    const char *name;
    int role;
};

/*
 * Whether actor may run jobs against e and change its overrides: anyone
 * with the role for it when e is not protected; otherwise admins and the
 * users named in e's grants. Returns DMT_OK or DMT_ERR_FORBIDDEN with a
 * message in err.
 */
int env_check_grant(const struct env *e, const struct actor *a, struct dmt_err *err);

/* Growable arrays of the above; free with *_list_cleanup. */
#define DMT_LIST(type)                                                       \
    struct type##_list {                                                     \
        struct type *items;                                                  \
        size_t n;                                                            \
    }
/* Defines type_list_push (appends a zeroed slot, aborts on OOM) and
 * type_list_cleanup (cleans every item, frees the array) for a list type
 * whose items have a type_cleanup. Used once per type in a .c file. */
#define DMT_LIST_FUNCS(type)                                                 \
    struct type *type##_list_push(struct type##_list *l) {                   \
        struct type *items = realloc(l->items, (l->n + 1) * sizeof(*items)); \
        if (items == NULL) abort();                                          \
        l->items = items;                                                    \
        memset(&items[l->n], 0, sizeof(*items));                             \
        return &items[l->n++];                                               \
    }                                                                        \
    void type##_list_cleanup(struct type##_list *l) {                        \
        if (l == NULL) return;                                               \
        for (size_t i = 0; i < l->n; i++) type##_cleanup(&l->items[i]);      \
        free(l->items);                                                      \
        l->items = NULL;                                                     \
        l->n = 0;                                                            \
    }

DMT_LIST(env);
DMT_LIST(job);
DMT_LIST(task);
DMT_LIST(var);
DMT_LIST(override);
DMT_LIST(user);
DMT_LIST(token);
DMT_LIST(audit_entry);

void env_cleanup(struct env *e);
void job_cleanup(struct job *j);
void task_cleanup(struct task *t);
void var_cleanup(struct var *v);
void override_cleanup(struct override *o);
void user_cleanup(struct user *u);
void token_cleanup(struct token *t);
void session_cleanup(struct session *s);
void audit_entry_cleanup(struct audit_entry *a);
void user_list_cleanup(struct user_list *l);
void token_list_cleanup(struct token_list *l);
void audit_entry_list_cleanup(struct audit_entry_list *l);
struct user *user_list_push(struct user_list *l);
struct token *token_list_push(struct token_list *l);
struct audit_entry *audit_entry_list_push(struct audit_entry_list *l);
void env_list_cleanup(struct env_list *l);
void job_list_cleanup(struct job_list *l);
void task_list_cleanup(struct task_list *l);
void var_list_cleanup(struct var_list *l);
void override_list_cleanup(struct override_list *l);

/* Appends a zeroed slot to a list and returns it (aborts on OOM). */
struct env *env_list_push(struct env_list *l);
struct job *job_list_push(struct job_list *l);
struct task *task_list_push(struct task_list *l);
struct var *var_list_push(struct var_list *l);
struct override *override_list_push(struct override_list *l);

/* --- names (names.c) ------------------------------------------------- */

/* Slug of environments, jobs, tasks, plugins: [a-z0-9][a-z0-9_.-]{0,62}. */
bool name_is_slug(const char *s);
/* Variable names: [A-Za-z_][A-Za-z0-9_]{0,63}. */
bool name_is_var(const char *s);

const char *var_type_name(int type);
/* Returns the enum var_type for a name, or -1. */
int var_type_parse(const char *s);
const char *on_failure_name(int f);
int on_failure_parse(const char *s); /* -1 if unknown */

/* Checks that value (not NULL) fits var's type (and enum values). A string
 * holding a ${{ }} reference is accepted for every type: it is checked
 * again after resolution. Adds one field error under `field` on failure
 * and returns DMT_ERR_INVALID. */
int var_value_check(const struct var *v, const json_t *value, const char *field,
                    struct dmt_err *err);

/* A value as everyone outside the store sees it: a copy of value, or for a
 * secret {"secret": true, "set": value != NULL} (never the value). New
 * reference; value NULL (unset) gives JSON null. */
json_t *value_public(const json_t *value, bool secret);

/* The ETag of an object: "\"<kind>-<id>-<version>\"" into out (64 bytes). */
void meta_etag(const char *kind, const struct meta *m, char *out, size_t len);

#endif
