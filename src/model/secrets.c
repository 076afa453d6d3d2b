/* secrets.c - sealing, opening and re-sealing secret values (secrets.h). */
#include "model/secrets.h"

#include <stdlib.h>
#include <string.h>

#include "core/seal.h"
#include "core/util.h"

#define CHECK_KEY "master_key_check"

int secret_check_len(const json_t *value, const char *field, struct dmt_err *err) {
    if (value == NULL || json_is_null(value)) return DMT_OK;
    size_t len;
    if (json_is_string(value)) {
        /* Characters, not bytes: count the UTF-8 lead bytes. */
        const char *s = json_string_value(value);
        len = 0;
        for (size_t i = 0; i < json_string_length(value); i++)
            len += ((unsigned char)s[i] & 0xC0) != 0x80;
    } else {
        char *t = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        len = t != NULL ? strlen(t) : 0;
        free(t);
    }
    if (len >= SECRET_MIN_LEN) return DMT_OK;
    return dmt_err_field(err, field,
                         "a secret must be at least %d characters long (a shorter one would "
                         "mask every match of it in the logs)",
                         SECRET_MIN_LEN);
}

/* Replaces *value (sealed for var_id, env_id) by its clear value. */
static int open_in_place(json_t **value, int64_t var_id, int64_t env_id, struct dmt_err *err) {
    if (*value == NULL || !seal_is_sealed(*value)) return DMT_OK;
    json_t *clear = NULL;
    int rc = seal_open(NULL, *value, var_id, env_id, &clear, err);
    if (rc != DMT_OK) return rc;
    json_decref(*value);
    *value = clear;
    return DMT_OK;
}

int secrets_open_view(struct job_view *v, struct dmt_err *err) {
    int rc = DMT_OK;
    for (size_t i = 0; rc == DMT_OK && i < v->vars.n; i++) {
        struct var *var = &v->vars.items[i];
        if (!var->secret) continue;
        rc = open_in_place(&var->value, var->m.id, 0, err);
        for (size_t k = 0; rc == DMT_OK && k < v->ovs.n; k++) {
            struct override *o = &v->ovs.items[k];
            if (o->var_id == var->m.id) rc = open_in_place(&o->value, o->var_id, o->env_id, err);
        }
    }
    return rc;
}

/* The value sealed again under new_key, or NULL when value needs no
 * change (only possible when keys are equal and it is sealed already). */
static int reseal(const unsigned char *old_key, const unsigned char *new_key, const json_t *value,
                  int64_t var_id, int64_t env_id, json_t **out, struct dmt_err *err) {
    *out = NULL;
    if (value == NULL || json_is_null(value)) return DMT_OK;
    if (seal_is_sealed(value)) {
        if (old_key == new_key) return DMT_OK;
        json_t *clear = NULL;
        int rc = seal_open(old_key, value, var_id, env_id, &clear, err);
        if (rc != DMT_OK) return rc;
        rc = seal_value(new_key, clear, var_id, env_id, out, err);
        json_decref(clear);
        return rc;
    }
    return seal_value(new_key, value, var_id, env_id, out, err);
}

int secrets_reseal_all(struct store *s, const unsigned char *old_key, const unsigned char *new_key,
                       int *count, struct dmt_err *err) {
    struct job_list jobs = {0};
    *count = 0;
    int rc = s->ops->job_list(s->ctx, &jobs, err);
    for (size_t j = 0; rc == DMT_OK && j < jobs.n; j++) {
        struct var_list vars = {0};
        struct override_list ovs = {0};
        rc = s->ops->var_list_job(s->ctx, jobs.items[j].m.id, &vars, err);
        if (rc == DMT_OK) rc = s->ops->override_list_job(s->ctx, jobs.items[j].m.id, &ovs, err);
        for (size_t i = 0; rc == DMT_OK && i < vars.n; i++) {
            struct var *v = &vars.items[i];
            if (!v->secret) continue;
            json_t *nv = NULL;
            rc = reseal(old_key, new_key, v->value, v->m.id, 0, &nv, err);
            if (rc == DMT_OK && nv != NULL) {
                json_decref(v->value);
                v->value = nv;
                rc = s->ops->var_update(s->ctx, v, err);
                (*count)++;
            }
            for (size_t k = 0; rc == DMT_OK && k < ovs.n; k++) {
                struct override *o = &ovs.items[k];
                if (o->var_id != v->m.id) continue;
                rc = reseal(old_key, new_key, o->value, o->var_id, o->env_id, &nv, err);
                if (rc == DMT_OK && nv != NULL) {
                    json_decref(o->value);
                    o->value = nv;
                    rc = s->ops->override_put(s->ctx, o, err);
                    (*count)++;
                }
            }
        }
        var_list_cleanup(&vars);
        override_list_cleanup(&ovs);
    }
    job_list_cleanup(&jobs);
    return rc;
}

int secrets_set_check(struct store *s, const unsigned char *new_key, struct dmt_err *err) {
    char *check = NULL;
    int rc = seal_check_make(new_key, &check, err);
    if (rc == DMT_OK) rc = s->ops->kv_set(s->ctx, CHECK_KEY, check, err);
    free(check);
    return rc;
}

struct start_args {
    const unsigned char *key;
    int sealed;
};

static int start_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct start_args *a = arg;
    char *check = NULL;
    int rc = s->ops->kv_get(s->ctx, CHECK_KEY, &check, NULL);
    if (rc == DMT_OK) {
        bool ok = seal_check_verify(a->key, check);
        free(check);
        if (!ok)
            return dmt_err_set(err, DMT_ERR_CONFIG,
                               "the master key does not match this database (its secrets were "
                               "sealed under another key): give the right DMT_MASTER_KEY or "
                               "--key-file");
    } else if (rc == DMT_ERR_NOT_FOUND) {
        rc = secrets_set_check(s, a->key, err);
        if (rc != DMT_OK) return rc;
    } else {
        return dmt_err_set(err, rc, "cannot read the master key check");
    }
    /* Secrets written before sealing existed: seal them now. */
    return secrets_reseal_all(s, a->key, a->key, &a->sealed, err);
}

int secrets_start(struct store *s, const unsigned char *key, struct dmt_err *err) {
    struct start_args a = {key, 0};
    int rc = store_tx(s, true, start_tx, &a, err);
    if (rc == DMT_OK && a.sealed > 0)
        log_info("sealed %d secret value(s) that were stored in clear", a.sealed);
    return rc;
}
