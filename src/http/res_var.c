/* res_var.c - a task's variables and their overrides per environment. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "http/http.h"
#include "model/edit.h"

#define VAR_PATH "/api/v1/jobs/%s/tasks/%s/variables/%s"

/* Answers with the variable var_name of the task, re-read. */
static int answer_var(struct op *op, struct store *s, unsigned status, const char *var_name,
                      struct dmt_err *err) {
    const char **p = op->r->params;
    struct job_view v;
    int rc = job_view_load(s, p[0], &v, err);
    for (size_t i = 0; rc == DMT_OK && i < v.vars.n; i++) {
        const struct var *var = &v.vars.items[i];
        if (strcmp(var->name, var_name) != 0) continue;
        bool mine = false;
        for (size_t t = 0; t < v.tasks.n; t++)
            mine |= v.tasks.items[t].m.id == var->task_id && strcmp(v.tasks.items[t].name, p[1]) == 0;
        if (!mine) continue;
        char etag[64];
        meta_etag("var", &var->m, etag, sizeof(etag));
        op_answer(op, status, repr_var(var, &v.ovs, &v.envs), etag,
                  status == 201 ? VAR_PATH : NULL, p[0], p[1], var_name);
    }
    job_view_cleanup(&v);
    return rc;
}

static int list_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct job_view v;
    struct task *t;
    int rc = view_load(arg, s, &v, &t, NULL, err);
    if (rc == DMT_OK) {
        json_t *items = json_array();
        for (size_t i = 0; i < v.vars.n; i++)
            if (v.vars.items[i].task_id == t->m.id)
                json_array_append_new(items, repr_var(&v.vars.items[i], &v.ovs, &v.envs));
        op_answer(arg, 200, repr_list(items), NULL, NULL);
    }
    job_view_cleanup(&v);
    return rc;
}

int res_var_list(struct req *r) { return op_run(r, false, list_tx, NULL); }

struct var_body {
    const char *name, *type, *description;
    bool required, secret;
    json_t *value, *values;
    bool has_name, has_type, has_desc, has_req, has_secret, has_value, has_values;
};

static int create_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    const struct var_body *b = op->arg;
    struct job_view v;
    struct task *t;
    int rc = view_load(op, s, &v, &t, NULL, err);
    struct var var = {
        .name = util_strdup(b->name),
        .type = b->has_type ? var_type_parse(b->type) : VAR_STRING,
        .required = b->required,
        .secret = b->secret,
        .description = util_strdup(b->has_desc ? b->description : ""),
        .value = b->value != NULL && !json_is_null(b->value) ? json_incref(b->value) : NULL,
        .values = json_incref(b->values),
    };
    if (rc == DMT_OK) rc = model_var_create(s, t, &var, err);
    if (rc == DMT_OK) rc = answer_var(op, s, 201, var.name, err);
    var_cleanup(&var);
    job_view_cleanup(&v);
    return rc;
}

int res_var_create(struct req *r) {
    struct var_body b = {0};
    const struct spec specs[] = {
        {"name", SPEC_VARNAME, true, &b.name, &b.has_name, 0, 0},
        {"type", SPEC_STRING, false, &b.type, &b.has_type, 0, 0},
        {"required", SPEC_BOOL, false, &b.required, &b.has_req, 0, 0},
        {"secret", SPEC_BOOL, false, &b.secret, &b.has_secret, 0, 0},
        {"description", SPEC_STRING, false, &b.description, &b.has_desc, 0, 0},
        {"value", SPEC_ANY, false, &b.value, &b.has_value, 0, 0},
        {"values", SPEC_STR_ARRAY, false, &b.values, &b.has_values, 0, 0},
        {NULL, 0, false, NULL, NULL, 0, 0},
    };
    int rc = spec_parse(r, specs);
    if (rc != DMT_OK) return rc;
    int type = b.has_type ? var_type_parse(b.type) : VAR_STRING;
    if (type < 0)
        dmt_err_field(&r->err, "type", "must be one of string, text, int, bool, enum, json");
    if (type == VAR_ENUM && (b.values == NULL || json_array_size(b.values) == 0))
        dmt_err_field(&r->err, "values", "an enum needs a non-empty list of allowed values");
    if (type != VAR_ENUM && b.values != NULL)
        dmt_err_field(&r->err, "values", "only an enum has allowed values");
    if (r->err.fields != NULL)
        return dmt_err_set(&r->err, DMT_ERR_INVALID, "the request body has invalid fields");
    return op_run(r, true, create_tx, &b);
}

static int get_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct job_view v;
    struct task *t;
    struct var *var;
    int rc = view_load(op, s, &v, &t, &var, err);
    if (rc == DMT_OK) {
        char etag[64];
        meta_etag("var", &var->m, etag, sizeof(etag));
        op_answer(op, 200, repr_var(var, &v.ovs, &v.envs), etag, NULL);
    }
    job_view_cleanup(&v);
    return rc;
}

int res_var_get(struct req *r) { return op_run(r, false, get_tx, NULL); }

static int load_for_write(struct op *op, struct store *s, struct job_view *v, struct task **t,
                          struct var **var, struct dmt_err *err) {
    int rc = view_load(op, s, v, t, var, err);
    if (rc != DMT_OK) return rc;
    char etag[64];
    meta_etag("var", &(*var)->m, etag, sizeof(etag));
    return req_if_match(op->r, etag, err);
}

static int patch_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    const struct var_body *b = op->arg;
    struct job_view v;
    struct task *t;
    struct var *var;
    int rc = load_for_write(op, s, &v, &t, &var, err);
    if (rc == DMT_OK) {
        if (b->has_value) {
            json_decref(var->value);
            var->value = json_is_null(b->value) ? NULL : json_incref(b->value);
        }
        if (b->has_desc) {
            free(var->description);
            var->description = util_strdup(b->description);
        }
        rc = model_var_update(s, t, var, err);
    }
    if (rc == DMT_OK) rc = answer_var(op, s, 200, var->name, err);
    job_view_cleanup(&v);
    return rc;
}

int res_var_patch(struct req *r) {
    struct var_body b = {0};
    const struct spec specs[] = {
        {"value", SPEC_ANY, false, &b.value, &b.has_value, 0, 0},
        {"description", SPEC_STRING, false, &b.description, &b.has_desc, 0, 0},
        {NULL, 0, false, NULL, NULL, 0, 0},
    };
    int rc = spec_parse(r, specs);
    return rc != DMT_OK ? rc : op_run(r, true, patch_tx, &b);
}

static int delete_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct job_view v;
    struct task *t;
    struct var *var;
    int rc = load_for_write(op, s, &v, &t, &var, err);
    if (rc == DMT_OK) rc = model_var_delete(s, t, var, err);
    if (rc == DMT_OK) op_answer(op, 204, NULL, NULL, NULL);
    job_view_cleanup(&v);
    return rc;
}

int res_var_delete(struct req *r) { return op_run(r, true, delete_tx, NULL); }

/* --- overrides ------------------------------------------------------------ */

/* Finds the environment params[3] in the view; *o is its override of var
 * or NULL. */
static int find_env(struct op *op, struct job_view *v, struct var *var, struct env **env,
                    const struct override **o, struct dmt_err *err) {
    const char *name = op->r->params[3];
    *env = NULL;
    for (size_t i = 0; i < v->envs.n; i++)
        if (strcmp(v->envs.items[i].name, name) == 0) *env = &v->envs.items[i];
    if (*env == NULL) return dmt_err_set(err, DMT_ERR_NOT_FOUND, "no environment named '%s'", name);
    *o = job_view_override(v, var->m.id, (*env)->m.id);
    return DMT_OK;
}

static json_t *repr_override(const struct var *var, const struct env *env,
                             const struct override *o) {
    return json_pack("{s:I, s:s, s:s, s:o, s:I, s:s, s:s}", "id", (json_int_t)o->m.id, "variable",
                     var->name, "environment", env->name, "value",
                     value_public(o->value, var->secret), "version", (json_int_t)o->m.version,
                     "created_at", o->m.created_at, "updated_at", o->m.updated_at);
}

static int override_get_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct job_view v;
    struct task *t;
    struct var *var;
    struct env *env;
    const struct override *o = NULL;
    int rc = view_load(op, s, &v, &t, &var, err);
    if (rc == DMT_OK) rc = find_env(op, &v, var, &env, &o, err);
    if (rc == DMT_OK && o == NULL)
        rc = dmt_err_set(err, DMT_ERR_NOT_FOUND, "'%s' has no override for '%s'", var->name,
                         env->name);
    if (rc == DMT_OK) {
        char etag[64];
        meta_etag("override", &o->m, etag, sizeof(etag));
        op_answer(op, 200, repr_override(var, env, o), etag, NULL);
    }
    job_view_cleanup(&v);
    return rc;
}

int res_override_get(struct req *r) { return op_run(r, false, override_get_tx, NULL); }

/* If-Match on an override: its own ETag when it exists; when it does not,
 * any If-Match fails, "*" included (RFC 9110 §13.1.1). */
static int override_if_match(struct op *op, const struct override *o, struct dmt_err *err) {
    if (o != NULL) {
        char etag[64];
        meta_etag("override", &o->m, etag, sizeof(etag));
        return req_if_match(op->r, etag, err);
    }
    if (MHD_lookup_connection_value(op->r->conn, MHD_HEADER_KIND, "If-Match") == NULL)
        return DMT_OK;
    return dmt_err_set(err, DMT_ERR_PRECONDITION,
                       "If-Match was given but there is no override to match yet");
}

static int override_put_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    json_t *value = op->arg;
    struct job_view v;
    struct task *t;
    struct var *var;
    struct env *env;
    const struct override *cur = NULL;
    int rc = view_load(op, s, &v, &t, &var, err);
    if (rc == DMT_OK) rc = find_env(op, &v, var, &env, &cur, err);
    struct actor who = req_actor(op->r);
    if (rc == DMT_OK) rc = env_check_grant(env, &who, err);
    if (rc == DMT_OK) rc = override_if_match(op, cur, err);
    struct override o = {0};
    bool created = false;
    if (rc == DMT_OK) rc = model_override_put(s, t, var, env, value, &o, &created, err);
    if (rc == DMT_OK) {
        char etag[64];
        meta_etag("override", &o.m, etag, sizeof(etag));
        const char **p = op->r->params;
        op_answer(op, created ? 201 : 200, repr_override(var, env, &o), etag,
                  created ? VAR_PATH "/overrides/%s" : NULL, p[0], p[1], p[2], p[3]);
    }
    override_cleanup(&o);
    job_view_cleanup(&v);
    return rc;
}

int res_override_put(struct req *r) {
    json_t *value = NULL;
    const struct spec specs[] = {
        {"value", SPEC_ANY, true, &value, NULL, 0, 0},
        {NULL, 0, false, NULL, NULL, 0, 0},
    };
    int rc = spec_parse(r, specs);
    return rc != DMT_OK ? rc : op_run(r, true, override_put_tx, value);
}

static int override_delete_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    struct job_view v;
    struct task *t;
    struct var *var;
    struct env *env;
    const struct override *o = NULL;
    int rc = view_load(op, s, &v, &t, &var, err);
    if (rc == DMT_OK) rc = find_env(op, &v, var, &env, &o, err);
    if (rc == DMT_OK && o == NULL)
        rc = dmt_err_set(err, DMT_ERR_NOT_FOUND, "'%s' has no override for '%s'", var->name,
                         env->name);
    struct actor who = req_actor(op->r);
    if (rc == DMT_OK) rc = env_check_grant(env, &who, err);
    if (rc == DMT_OK) rc = override_if_match(op, o, err);
    if (rc == DMT_OK) rc = model_override_delete(s, t, var, o, err);
    if (rc == DMT_OK) op_answer(op, 204, NULL, NULL, NULL);
    job_view_cleanup(&v);
    return rc;
}

int res_override_delete(struct req *r) { return op_run(r, true, override_delete_tx, NULL); }
