/* resolve.c - effective values, references, workflow and plan. */
#include "model/resolve.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/seal.h"
#include "core/util.h"

#define MAX_DEPTH 16

int job_view_load(struct store *s, const char *name, struct job_view *out, struct dmt_err *err) {
    memset(out, 0, sizeof(*out));
    int rc = s->ops->job_get(s->ctx, name, &out->job, err);
    if (rc == DMT_OK) rc = s->ops->env_list(s->ctx, &out->envs, err);
    if (rc == DMT_OK) rc = s->ops->task_list(s->ctx, out->job.m.id, &out->tasks, err);
    if (rc == DMT_OK) rc = s->ops->var_list_job(s->ctx, out->job.m.id, &out->vars, err);
    if (rc == DMT_OK) rc = s->ops->override_list_job(s->ctx, out->job.m.id, &out->ovs, err);
    return rc;
}

void job_view_cleanup(struct job_view *v) {
    job_cleanup(&v->job);
    env_list_cleanup(&v->envs);
    task_list_cleanup(&v->tasks);
    var_list_cleanup(&v->vars);
    override_list_cleanup(&v->ovs);
}

const struct override *job_view_override(const struct job_view *v, int64_t var_id,
                                         int64_t env_id) {
    for (size_t i = 0; i < v->ovs.n; i++)
        if (v->ovs.items[i].var_id == var_id && v->ovs.items[i].env_id == env_id)
            return &v->ovs.items[i];
    return NULL;
}

/* The effective value of var in env (borrowed, NULL if unset) and its source. */
static const json_t *effective(const struct job_view *v, const struct var *var,
                               const struct env *env, const char **source) {
    const struct override *o = job_view_override(v, var->m.id, env->m.id);
    if (o != NULL) {
        *source = "override";
        return o->value;
    }
    *source = var->value != NULL ? "default" : "unset";
    return var->value;
}

static const struct var *find_var(const struct job_view *v, int64_t task_id, const char *name,
                                  size_t len) {
    for (size_t i = 0; i < v->vars.n; i++) {
        const struct var *var = &v->vars.items[i];
        if (var->task_id == task_id && strlen(var->name) == len &&
            memcmp(var->name, name, len) == 0)
            return var;
    }
    return NULL;
}

/* --- the workflow ---------------------------------------------------------- */

json_t *resolve_workflow(const struct job_view *v) {
    json_t *envs = json_array();
    for (size_t e = 0; e < v->envs.n; e++)
        json_array_append_new(envs, json_string(v->envs.items[e].name));
    json_t *tasks = json_array();
    for (size_t t = 0; t < v->tasks.n; t++) {
        const struct task *task = &v->tasks.items[t];
        json_t *vars = json_array();
        for (size_t i = 0; i < v->vars.n; i++) {
            const struct var *var = &v->vars.items[i];
            if (var->task_id != task->m.id) continue;
            json_t *ovs = json_object(), *eff = json_object();
            for (size_t e = 0; e < v->envs.n; e++) {
                const struct env *env = &v->envs.items[e];
                const struct override *o = job_view_override(v, var->m.id, env->m.id);
                if (o != NULL) json_object_set_new(ovs, env->name, value_public(o->value, var->secret));
                const char *source;
                const json_t *val = effective(v, var, env, &source);
                json_object_set_new(eff, env->name,
                                    json_pack("{s:o, s:s, s:b}", "value",
                                              value_public(val, var->secret), "source", source,
                                              "missing", var->required && val == NULL));
            }
            json_array_append_new(
                vars, json_pack("{s:s, s:s, s:b, s:b, s:b, s:s, s:o, s:o, s:o}", "name", var->name,
                                "type", var_type_name(var->type), "required", var->required,
                                "secret", var->secret, "custom", var->custom, "description",
                                var->description ? var->description : "", "value",
                                value_public(var->value, var->secret), "overrides", ovs,
                                "effective", eff));
        }
        json_array_append_new(tasks,
                              json_pack("{s:s, s:s, s:i, s:b, s:o}", "name", task->name, "plugin",
                                        task->plugin, "position", task->position, "enabled",
                                        task->enabled, "variables", vars));
    }
    return json_pack("{s:s, s:o, s:o}", "job", v->job.name, "environments", envs, "tasks", tasks);
}

/* --- references ------------------------------------------------------------ */

struct rctx {
    const struct job_view *v;
    const struct env *env;
    const struct task *task;
    const struct var *var; /* the variable being resolved, for errors */
    json_t *errors;
    bool secret;  /* the result contains a secret's value */
    bool runtime; /* the result still holds run-time references */
    bool keep_escapes; /* leave $${{ escaped: the executor expands once more */
    bool opaque;  /* the result holds a sealed secret: its type is unknown here */
    /* path[d]: the variable whose text is expanded at depth d (path[0] is
     * var), to tell a reference loop from a merely deep chain. */
    const struct var *path[MAX_DEPTH + 1];
};

struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void add_error(struct rctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_error(struct rctx *c, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* A variable referred to several times reports the same problem once. */
    size_t i;
    json_t *e;
    json_array_foreach(c->errors, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "message")), msg) == 0 &&
            strcmp(json_string_value(json_object_get(e, "variable")), c->var->name) == 0 &&
            strcmp(json_string_value(json_object_get(e, "task")), c->task->name) == 0)
            return;
    }
    json_array_append_new(c->errors, json_pack("{s:s, s:s, s:s, s:s}", "task", c->task->name,
                                               "variable", c->var->name, "environment",
                                               c->env->name, "message", msg));
}

static int expand(struct rctx *c, const char *in, struct sbuf *out, int depth);

/* Appends the value of one reference expression (already trimmed). */
static int reference(struct rctx *c, const char *expr, size_t len, const char *whole,
                     size_t whole_len, struct sbuf *out, int depth) {
#define IS(lit) (len == sizeof(lit) - 1 && memcmp(expr, lit, len) == 0)
#define HAS_PREFIX(lit) (len > sizeof(lit) - 1 && memcmp(expr, lit, sizeof(lit) - 1) == 0)
    if (IS("env.name")) {
        sb_add(out, c->env->name, strlen(c->env->name));
        return DMT_OK;
    }
    if (IS("job.name")) {
        sb_add(out, c->v->job.name, strlen(c->v->job.name));
        return DMT_OK;
    }
    if (IS("run.id")) {
        c->runtime = true;
        sb_add(out, whole, whole_len);
        return DMT_OK;
    }
    if (HAS_PREFIX("vars.")) {
        const char *name = expr + 5;
        const struct var *ref = find_var(c->v, c->task->m.id, name, len - 5);
        if (ref == NULL) {
            add_error(c, "%.*s: task '%s' has no variable '%.*s'", (int)whole_len, whole,
                      c->task->name, (int)(len - 5), name);
            return DMT_ERR_INVALID;
        }
        /* A variable already being expanded on this path: a loop. Stop at
         * once (going on to a depth limit costs exponential time and
         * reports the loop once per path). */
        for (int d = 0; d <= depth; d++) {
            if (c->path[d] != ref) continue;
            char chain[256] = "";
            size_t n = 0;
            for (int k = d; k <= depth && n < sizeof(chain); k++)
                n += (size_t)snprintf(chain + n, sizeof(chain) - n, "%s -> ", c->path[k]->name);
            if (n < sizeof(chain)) snprintf(chain + n, sizeof(chain) - n, "%s", ref->name);
            add_error(c, "%.*s: the references loop back on themselves (%s)", (int)whole_len,
                      whole, chain);
            return DMT_ERR_INVALID;
        }
        if (depth >= MAX_DEPTH) {
            add_error(c, "%.*s: references are nested more than %d deep", (int)whole_len, whole,
                      MAX_DEPTH);
            return DMT_ERR_INVALID;
        }
        const char *source;
        const json_t *val = effective(c->v, ref, c->env, &source);
        if (val == NULL) {
            add_error(c, "%.*s: '%s' has no value in '%s'", (int)whole_len, whole, ref->name,
                      c->env->name);
            return DMT_ERR_INVALID;
        }
        if (ref->secret) c->secret = true;
        if (seal_is_sealed(val)) c->opaque = true;
        if (json_is_string(val)) {
            c->path[depth + 1] = ref;
            return expand(c, json_string_value(val), out, depth + 1);
        }
        char *text = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
        sb_add(out, text, strlen(text));
        free(text);
        return DMT_OK;
    }
    if (HAS_PREFIX("tasks.")) {
        /* tasks.NAME.outputs.KEY, NAME an earlier task of the job. */
        const char *name = expr + 6, *dot = memchr(name, '.', len - 6);
        const char *end = expr + len;
        bool shape = dot != NULL && (size_t)(end - dot) > 9 && memcmp(dot, ".outputs.", 9) == 0 &&
                     memchr(dot + 9, '.', (size_t)(end - dot - 9)) == NULL;
        if (!shape) {
            add_error(c, "%.*s: write it as ${{ tasks.TASK.outputs.KEY }}", (int)whole_len, whole);
            return DMT_ERR_INVALID;
        }
        size_t nlen = (size_t)(dot - name);
        for (size_t i = 0; i < c->v->tasks.n; i++) {
            const struct task *t = &c->v->tasks.items[i];
            if (strlen(t->name) != nlen || memcmp(t->name, name, nlen) != 0) continue;
            if (t->position >= c->task->position) {
                add_error(c, "%.*s: task '%s' does not run before '%s'", (int)whole_len, whole,
                          t->name, c->task->name);
                return DMT_ERR_INVALID;
            }
            c->runtime = true;
            sb_add(out, whole, whole_len);
            return DMT_OK;
        }
        add_error(c, "%.*s: job '%s' has no task '%.*s'", (int)whole_len, whole, c->v->job.name,
                  (int)nlen, name);
        return DMT_ERR_INVALID;
    }
    add_error(c, "%.*s: unknown reference (use env.name, job.name, run.id, vars.NAME or "
                 "tasks.TASK.outputs.KEY)",
              (int)whole_len, whole);
    return DMT_ERR_INVALID;
#undef IS
#undef HAS_PREFIX
}

/* Appends in to out with every ${{ }} replaced; $${{ stays a literal ${{. */
static int expand(struct rctx *c, const char *in, struct sbuf *out, int depth) {
    int rc = DMT_OK;
    const char *p = in;
    while (*p != '\0') {
        const char *hit = strstr(p, "${{");
        if (hit == NULL) {
            sb_add(out, p, strlen(p));
            break;
        }
        if (hit > in && hit[-1] == '$') {
            /* "$${{": drop one '$' and keep the rest literally. */
            sb_add(out, p, (size_t)(hit - 1 - p));
            if (c->keep_escapes) sb_add(out, "$${{", 4);
            else sb_add(out, "${{", 3);
            p = hit + 3;
            continue;
        }
        sb_add(out, p, (size_t)(hit - p));
        const char *close = strstr(hit + 3, "}}");
        if (close == NULL) {
            add_error(c, "'${{' is never closed with '}}' (write '$${{' for a literal)");
            return DMT_ERR_INVALID;
        }
        const char *a = hit + 3, *b = close;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
        int r = reference(c, a, (size_t)(b - a), hit, (size_t)(close + 2 - hit), out, depth);
        if (r != DMT_OK) rc = r;
        p = close + 2;
    }
    return rc;
}

/* Resolves one variable's effective value for the plan; new reference,
 * NULL when unset. Errors go to c->errors. */
static json_t *resolve_value(struct rctx *c, const json_t *val) {
    if (val == NULL) return NULL;
    if (!json_is_string(val)) return json_deep_copy(val);
    struct sbuf b = {0};
    sb_add(&b, "", 0);
    c->path[0] = c->var;
    int rc = expand(c, json_string_value(val), &b, 0);
    json_t *res = json_string(b.p);
    free(b.p);
    if (rc != DMT_OK || c->runtime || c->opaque || res == NULL) return res;
    /* Typed variables whose value came from a reference: check the result. */
    const char *s = json_string_value(res);
    json_t *typed = NULL;
    switch (c->var->type) {
    case VAR_INT: {
        int64_t n;
        if (util_parse_i64(s, &n)) typed = json_integer(n);
        else add_error(c, "is of type int but its value resolves to \"%s\"", c->secret ? "***" : s);
        break;
    }
    case VAR_BOOL:
        if (strcmp(s, "true") == 0) typed = json_true();
        else if (strcmp(s, "false") == 0) typed = json_false();
        else add_error(c, "is of type bool but its value resolves to \"%s\"", c->secret ? "***" : s);
        break;
    case VAR_ENUM:
        if (var_value_check(c->var, res, c->var->name, NULL) != DMT_OK)
            add_error(c, "its value resolves to \"%s\", which is not one of its allowed values",
                      c->secret ? "***" : s);
        break;
    default:
        break;
    }
    if (typed != NULL) {
        json_decref(res);
        return typed;
    }
    return res;
}

/* Resolves one variable of task for env. Returns the value (new reference,
 * NULL when unset) and its source; *secret tells whether it holds a
 * secret's value. Problems go to errs. */
static json_t *resolve_var(const struct job_view *v, const struct env *env,
                           const struct task *task, const struct var *var, json_t *errs,
                           bool keep_escapes, const char **source, bool *secret) {
    struct rctx c = {.v = v, .env = env, .task = task, .var = var, .errors = errs,
                     .secret = var->secret, .keep_escapes = keep_escapes};
    const json_t *raw = effective(v, var, env, source);
    if (raw == NULL && var->required)
        add_error(&c, "required value is not set (set a default or an override for '%s')",
                  env->name);
    json_t *val = resolve_value(&c, raw);
    *secret = c.secret;
    return val;
}

json_t *resolve_plan(const struct job_view *v, const struct env *env) {
    json_t *errors = json_array(), *tasks = json_array();
    for (size_t t = 0; t < v->tasks.n; t++) {
        const struct task *task = &v->tasks.items[t];
        json_t *vars = json_object();
        /* A disabled task does not run: its problems do not stop a run. */
        json_t *errs = task->enabled ? errors : json_array();
        for (size_t i = 0; i < v->vars.n; i++) {
            const struct var *var = &v->vars.items[i];
            if (var->task_id != task->m.id) continue;
            const char *source;
            bool secret;
            json_t *val = resolve_var(v, env, task, var, errs, false, &source, &secret);
            json_t *entry;
            if (secret)
                entry = json_pack("{s:b, s:b, s:s}", "secret", 1, "set",
                                  strcmp(source, "unset") != 0, "source", source);
            else
                entry = json_pack("{s:o, s:s}", "value", val ? json_incref(val) : json_null(),
                                  "source", source);
            json_decref(val);
            json_object_set_new(vars, var->name, entry);
        }
        if (errs != errors) json_decref(errs);
        json_array_append_new(tasks, json_pack("{s:s, s:s, s:b, s:o}", "name", task->name,
                                               "plugin", task->plugin, "enabled", task->enabled,
                                               "variables", vars));
    }
    return json_pack("{s:s, s:s, s:o, s:o}", "job", v->job.name, "environment", env->name, "tasks",
                     tasks, "errors", errors);
}

json_t *resolve_task_values(const struct job_view *v, const struct env *env,
                            const struct task *task, bool with_secrets) {
    json_t *values = json_object(), *errs = json_array();
    for (size_t i = 0; i < v->vars.n; i++) {
        const struct var *var = &v->vars.items[i];
        if (var->task_id != task->m.id) continue;
        const char *source;
        bool secret;
        json_t *val = resolve_var(v, env, task, var, errs, true, &source, &secret);
        if (secret && !with_secrets) {
            json_decref(val);
            val = json_pack("{s:{s:I, s:I, s:I}}", "$secret", "task_id", (json_int_t)task->m.id,
                            "var_id", (json_int_t)var->m.id, "env_id", (json_int_t)env->m.id);
        }
        json_object_set_new(values, var->name, val ? val : json_null());
    }
    json_decref(errs);
    return values;
}

char *resolve_runtime(const char *value, int64_t run_id, const json_t *outputs,
                      struct dmt_err *err) {
    struct sbuf b = {0};
    sb_add(&b, "", 0);
    const char *p = value;
    while (*p != '\0') {
        const char *hit = strstr(p, "${{");
        if (hit == NULL) {
            sb_add(&b, p, strlen(p));
            break;
        }
        if (hit > p && hit[-1] == '$') {
            sb_add(&b, p, (size_t)(hit - 1 - p));
            sb_add(&b, "${{", 3);
            p = hit + 3;
            continue;
        }
        sb_add(&b, p, (size_t)(hit - p));
        const char *close = strstr(hit + 3, "}}");
        if (close == NULL) {
            /* Validated at creation; keep the text as it is. */
            sb_add(&b, hit, strlen(hit));
            break;
        }
        const char *a = hit + 3, *e = close;
        while (a < e && (*a == ' ' || *a == '\t')) a++;
        while (e > a && (e[-1] == ' ' || e[-1] == '\t')) e--;
        size_t len = (size_t)(e - a);
        char expr[256];
        if (len >= sizeof(expr)) len = sizeof(expr) - 1;
        memcpy(expr, a, len);
        expr[len] = '\0';
        if (strcmp(expr, "run.id") == 0) {
            char num[32];
            int n = snprintf(num, sizeof(num), "%lld", (long long)run_id);
            sb_add(&b, num, (size_t)n);
        } else if (strncmp(expr, "tasks.", 6) == 0 && strstr(expr, ".outputs.") != NULL) {
            char *task = expr + 6, *dot = strstr(task, ".outputs.");
            *dot = '\0';
            const char *key = dot + 9;
            const json_t *v = json_object_get(json_object_get(outputs, task), key);
            if (!json_is_string(v)) {
                dmt_err_set(err, DMT_ERR_INVALID,
                            "${{ tasks.%s.outputs.%s }}: task '%s' wrote no output '%s'", task,
                            key, task, key);
                free(b.p);
                return NULL;
            }
            sb_add(&b, json_string_value(v), strlen(json_string_value(v)));
        } else {
            sb_add(&b, hit, (size_t)(close + 2 - hit));
        }
        p = close + 2;
    }
    return b.p;
}
