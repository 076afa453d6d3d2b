/* edit.c - changes that keep the model's rules (see edit.h). */
#include "model/edit.h"

#include <stdio.h>
#include <string.h>

#include "core/seal.h"
#include "core/util.h"
#include "model/secrets.h"
#include "plugin/plugin.h"

/* Clamps a wanted position to 1..n (0: last). */
static int clamp_pos(int64_t want, size_t n) {
    if (want <= 0 || want > (int64_t)n) return (int)n;
    return (int)want;
}

/* Moves every other env in [lo, hi] by delta. */
static int env_shift(struct store *s, int64_t skip, int lo, int hi, int delta,
                     struct dmt_err *err) {
    struct env_list l = {0};
    int rc = s->ops->env_list(s->ctx, &l, err);
    for (size_t i = 0; rc == DMT_OK && i < l.n; i++) {
        struct env *e = &l.items[i];
        if (e->m.id == skip || e->position < lo || e->position > hi) continue;
        e->position += delta;
        rc = s->ops->env_update(s->ctx, e, err);
    }
    env_list_cleanup(&l);
    return rc;
}

static int count_envs(struct store *s, size_t *n, struct dmt_err *err) {
    struct env_list l = {0};
    int rc = s->ops->env_list(s->ctx, &l, err);
    *n = l.n;
    env_list_cleanup(&l);
    return rc;
}

int model_env_create(struct store *s, struct env *e, int64_t want, struct dmt_err *err) {
    size_t n;
    int rc = count_envs(s, &n, err);
    if (rc != DMT_OK) return rc;
    e->position = clamp_pos(want, n + 1);
    rc = env_shift(s, 0, e->position, (int)n, +1, err);
    if (rc != DMT_OK) return rc;
    return s->ops->env_insert(s->ctx, e, err);
}

int model_env_update(struct store *s, struct env *e, int old_pos, struct dmt_err *err) {
    size_t n;
    int rc = count_envs(s, &n, err);
    if (rc != DMT_OK) return rc;
    e->position = clamp_pos(e->position, n);
    if (e->position < old_pos)
        rc = env_shift(s, e->m.id, e->position, old_pos - 1, +1, err);
    else if (e->position > old_pos)
        rc = env_shift(s, e->m.id, old_pos + 1, e->position, -1, err);
    if (rc != DMT_OK) return rc;
    return s->ops->env_update(s->ctx, e, err);
}

int model_env_delete(struct store *s, const struct env *e, struct dmt_err *err) {
    int rc = s->ops->env_delete(s->ctx, e->m.id, err);
    if (rc != DMT_OK) return rc;
    return env_shift(s, e->m.id, e->position + 1, 1 << 30, -1, err);
}

/* --- tasks --------------------------------------------------------------- */

static int task_shift(struct store *s, int64_t job_id, int64_t skip, int lo, int hi, int delta,
                      size_t *count, struct dmt_err *err) {
    struct task_list l = {0};
    int rc = s->ops->task_list(s->ctx, job_id, &l, err);
    if (count != NULL) *count = l.n;
    for (size_t i = 0; rc == DMT_OK && delta != 0 && i < l.n; i++) {
        struct task *t = &l.items[i];
        if (t->m.id == skip || t->position < lo || t->position > hi) continue;
        t->position += delta;
        rc = s->ops->task_update(s->ctx, t, err);
    }
    task_list_cleanup(&l);
    return rc;
}

/*
 * Seals the value of secret variable v (already inserted: its id binds the
 * seal) in place, unless it is a value already sealed for v. check_len:
 * refuse a value too short to be a secret (a value a user gave).
 */
/* Whether v's value is the one stored for it: sealed for v. */
static bool sealed_for(const struct var *v) {
    if (!v->secret || !seal_is_sealed(v->value)) return false;
    json_t *probe = NULL;
    if (seal_open(NULL, v->value, v->m.id, 0, &probe, NULL) != DMT_OK) return false;
    json_decref(probe);
    return true;
}

static int seal_var_value(struct var *v, bool check_len, struct dmt_err *err) {
    if (!v->secret || v->value == NULL || json_is_null(v->value)) return DMT_OK;
    if (sealed_for(v)) return DMT_OK; /* the stored value, unchanged */
    if (check_len && secret_check_len(v->value, "value", err) != DMT_OK) return DMT_ERR_INVALID;
    json_t *sealed = NULL;
    int rc = seal_value(NULL, v->value, v->m.id, 0, &sealed, err);
    if (rc != DMT_OK) return rc;
    json_decref(v->value);
    v->value = sealed;
    return DMT_OK;
}

/* Inserts v; a secret's value is written sealed once its id is known. */
static int insert_var(struct store *s, struct var *v, bool check_len, struct dmt_err *err) {
    if (!v->secret || v->value == NULL) return s->ops->var_insert(s->ctx, v, err);
    if (check_len && secret_check_len(v->value, "value", err) != DMT_OK) return DMT_ERR_INVALID;
    json_t *clear = v->value;
    v->value = NULL;
    int rc = s->ops->var_insert(s->ctx, v, err);
    v->value = clear;
    if (rc == DMT_OK) rc = seal_var_value(v, false, err);
    if (rc == DMT_OK) rc = s->ops->var_update(s->ctx, v, err);
    return rc;
}

/* Bumps the versions of what contains a changed object. */
static int touch_up(struct store *s, int64_t job_id, int64_t task_id, int64_t var_id,
                    struct dmt_err *err) {
    int rc = DMT_OK;
    if (var_id != 0) rc = s->ops->touch(s->ctx, KIND_VAR, var_id, err);
    if (rc == DMT_OK && task_id != 0) rc = s->ops->touch(s->ctx, KIND_TASK, task_id, err);
    if (rc == DMT_OK && job_id != 0) rc = s->ops->touch(s->ctx, KIND_JOB, job_id, err);
    return rc;
}

int model_task_create(struct store *s, const struct job *job, struct task *t, json_t *values,
                      struct dmt_err *err) {
    const struct plugin *p = plugin_find(t->plugin);
    if (p == NULL) return dmt_err_field(err, "plugin", "no plugin named '%s'", t->plugin);
    /* Check the given values against the schema before writing anything. */
    const char *key;
    json_t *val;
    json_object_foreach(values, key, val) {
        char field[128];
        snprintf(field, sizeof(field), "variables.%s", key);
        const struct plugin_var *pv = NULL;
        for (size_t i = 0; i < p->nvars; i++)
            if (strcmp(p->vars[i].name, key) == 0) pv = &p->vars[i];
        if (pv == NULL) {
            dmt_err_field(err, field, "plugin '%s' has no variable '%s'", p->name, key);
            continue;
        }
        struct var probe = {.name = pv->name, .type = pv->type, .values = pv->values};
        if (!json_is_null(val)) var_value_check(&probe, val, field, err);
    }
    if (err->fields != NULL)
        return dmt_err_set(err, DMT_ERR_INVALID, "the task's variables are invalid");

    size_t n;
    int rc = task_shift(s, job->m.id, 0, 0, 0, 0, &n, err);
    if (rc != DMT_OK) return rc;
    t->job_id = job->m.id;
    t->position = clamp_pos(t->position, n + 1);
    rc = task_shift(s, job->m.id, 0, t->position, (int)n, +1, NULL, err);
    if (rc == DMT_OK) rc = s->ops->task_insert(s->ctx, t, err);
    for (size_t i = 0; rc == DMT_OK && i < p->nvars; i++) {
        const struct plugin_var *pv = &p->vars[i];
        json_t *given = values ? json_object_get(values, pv->name) : NULL;
        json_t *value = given != NULL ? given : pv->default_value;
        struct var v = {
            .task_id = t->m.id,
            .name = util_strdup(pv->name),
            .type = pv->type,
            .required = pv->required,
            .secret = pv->secret,
            .description = util_strdup(pv->description ? pv->description : ""),
            .value = json_is_null(value) ? NULL : json_incref(value),
            .values = json_incref(pv->values),
        };
        rc = insert_var(s, &v, given != NULL, err);
        var_cleanup(&v);
    }
    if (rc == DMT_OK) rc = touch_up(s, job->m.id, 0, 0, err);
    return rc;
}

int model_task_update(struct store *s, const struct job *job, struct task *t, int old_pos,
                      struct dmt_err *err) {
    size_t n;
    int rc = task_shift(s, job->m.id, 0, 0, 0, 0, &n, err);
    if (rc != DMT_OK) return rc;
    t->position = clamp_pos(t->position, n);
    if (t->position < old_pos)
        rc = task_shift(s, job->m.id, t->m.id, t->position, old_pos - 1, +1, NULL, err);
    else if (t->position > old_pos)
        rc = task_shift(s, job->m.id, t->m.id, old_pos + 1, t->position, -1, NULL, err);
    if (rc == DMT_OK) rc = s->ops->task_update(s->ctx, t, err);
    if (rc == DMT_OK) rc = touch_up(s, job->m.id, 0, 0, err);
    return rc;
}

int model_task_delete(struct store *s, const struct job *job, const struct task *t,
                      struct dmt_err *err) {
    int rc = s->ops->task_delete(s->ctx, t->m.id, err);
    if (rc == DMT_OK) rc = task_shift(s, job->m.id, t->m.id, t->position + 1, 1 << 30, -1, NULL, err);
    if (rc == DMT_OK) rc = touch_up(s, job->m.id, 0, 0, err);
    return rc;
}

/* --- variables and overrides ----------------------------------------------- */

int model_var_create(struct store *s, const struct task *t, struct var *v, struct dmt_err *err) {
    if (v->value != NULL && var_value_check(v, v->value, "value", err) != DMT_OK)
        return DMT_ERR_INVALID;
    v->task_id = t->m.id;
    v->custom = true;
    int rc = insert_var(s, v, true, err);
    if (rc == DMT_OK) rc = touch_up(s, t->job_id, t->m.id, 0, err);
    return rc;
}

int model_var_update(struct store *s, const struct task *t, struct var *v, struct dmt_err *err) {
    if (v->value != NULL && !sealed_for(v) && var_value_check(v, v->value, "value", err) != DMT_OK)
        return DMT_ERR_INVALID;
    int rc = seal_var_value(v, true, err);
    if (rc == DMT_OK) rc = s->ops->var_update(s->ctx, v, err);
    if (rc == DMT_OK) rc = touch_up(s, t->job_id, t->m.id, 0, err);
    return rc;
}

int model_var_delete(struct store *s, const struct task *t, const struct var *v,
                     struct dmt_err *err) {
    if (!v->custom)
        return dmt_err_set(err, DMT_ERR_INVALID,
                           "'%s' comes from the plugin '%s' and cannot be deleted; "
                           "unset its value instead",
                           v->name, t->plugin);
    int rc = s->ops->var_delete(s->ctx, v->m.id, err);
    if (rc == DMT_OK) rc = touch_up(s, t->job_id, t->m.id, 0, err);
    return rc;
}

int model_override_put(struct store *s, const struct task *t, const struct var *v,
                       const struct env *env, json_t *value, struct override *out, bool *created,
                       struct dmt_err *err) {
    if (value == NULL || json_is_null(value))
        return dmt_err_field(err, "value",
                             "is required (to remove an override, DELETE it instead)");
    if (var_value_check(v, value, "value", err) != DMT_OK) return DMT_ERR_INVALID;
    json_t *sealed = NULL;
    if (v->secret) {
        if (secret_check_len(value, "value", err) != DMT_OK) return DMT_ERR_INVALID;
        int src = seal_value(NULL, value, v->m.id, env->m.id, &sealed, err);
        if (src != DMT_OK) return src;
        value = sealed;
    }
    struct override cur = {0};
    int rc = s->ops->override_get(s->ctx, v->m.id, env->m.id, &cur, NULL);
    *created = rc == DMT_ERR_NOT_FOUND;
    if (rc != DMT_OK && rc != DMT_ERR_NOT_FOUND) {
        json_decref(sealed);
        return dmt_err_set(err, rc, "cannot read the override");
    }
    override_cleanup(&cur);
    out->var_id = v->m.id;
    out->env_id = env->m.id;
    out->value = json_incref(value);
    json_decref(sealed);
    rc = s->ops->override_put(s->ctx, out, err);
    if (rc == DMT_OK) rc = touch_up(s, t->job_id, t->m.id, v->m.id, err);
    return rc;
}

int model_override_delete(struct store *s, const struct task *t, const struct var *v,
                          const struct override *o, struct dmt_err *err) {
    int rc = s->ops->override_delete(s->ctx, o->m.id, err);
    if (rc == DMT_OK) rc = touch_up(s, t->job_id, t->m.id, v->m.id, err);
    return rc;
}
