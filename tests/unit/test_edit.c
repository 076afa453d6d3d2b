/* test_edit.c - model/edit.c (positions, task variables, type checks, touch)
 * and var_value_check, on a real SQLite store in a temporary folder. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/edit.h"
#include "plugin/plugin.h"

static char dir[] = "/tmp/dmt-test-edit-XXXXXX";
static struct store *s;
static struct dmt_err err;
static struct job job; /* "deploy", made by the fixture */

/* Runs one call with err cleared first and expects DMT_OK. */
#define OK(call)                                                                                   \
    do {                                                                                           \
        dmt_err_cleanup(&err);                                                                     \
        int rc_ = (call);                                                                          \
        cr_assert_eq(rc_, DMT_OK, "%s: %s (%s)", #call, dmt_status_name(rc_), err.msg);            \
    } while (0)
/* Runs one call with err cleared first and expects the status code. */
#define FAILS(code, call)                                                                          \
    do {                                                                                           \
        dmt_err_cleanup(&err);                                                                     \
        int rc_ = (call);                                                                          \
        cr_assert_eq(rc_, (code), "%s: got %s (%s)", #call, dmt_status_name(rc_), err.msg);        \
    } while (0)

/* --- builders and readers ---------------------------------------------- */

/* Creates an environment through the model; returns its position. */
static int add_env(const char *name, int64_t want) {
    struct env e = {.name = strdup(name), .description = strdup(""), .grants = json_array()};
    OK(model_env_create(s, &e, want, &err));
    int pos = e.position;
    env_cleanup(&e);
    return pos;
}

static struct env get_env(const char *name) {
    struct env e = {0};
    OK(s->ops->env_get(s->ctx, name, &e, &err));
    return e;
}

/* "name:position ..." of every environment, in list order. */
static const char *env_order(void) {
    static char buf[512];
    struct env_list l = {0};
    OK(s->ops->env_list(s->ctx, &l, &err));
    buf[0] = '\0';
    for (size_t i = 0; i < l.n; i++)
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s:%d", i ? " " : "",
                 l.items[i].name, l.items[i].position);
    env_list_cleanup(&l);
    return buf;
}

static void move_env(const char *name, int to) {
    struct env e = get_env(name);
    int old = e.position;
    e.position = to;
    OK(model_env_update(s, &e, old, &err));
    env_cleanup(&e);
}

static struct job make_job(const char *name) {
    struct job j = {.name = strdup(name), .description = strdup("")};
    OK(s->ops->job_insert(s->ctx, &j, &err));
    return j;
}

static int64_t job_version(const struct job *j) {
    struct job got = {0};
    OK(s->ops->job_get(s->ctx, j->name, &got, &err));
    int64_t v = got.m.version;
    job_cleanup(&got);
    return v;
}

/* A shell task in j at position want; values is JSON text or NULL. Returns
 * the status of model_task_create (err holds the detail). */
static int try_task(const struct job *j, const char *name, int want, const char *values) {
    json_t *vals = NULL;
    if (values != NULL) {
        vals = json_loads(values, 0, NULL);
        cr_assert_not_null(vals, "bad JSON in test: %s", values);
    }
    struct task t = {
        .name = strdup(name), .plugin = strdup("shell"), .position = want, .enabled = true};
    dmt_err_cleanup(&err);
    int rc = model_task_create(s, j, &t, vals, &err);
    task_cleanup(&t);
    json_decref(vals);
    return rc;
}

static void add_task(const struct job *j, const char *name, int want, const char *values) {
    int rc = try_task(j, name, want, values);
    cr_assert_eq(rc, DMT_OK, "task %s: %s (%s)", name, dmt_status_name(rc), err.msg);
}

static struct task get_task(const struct job *j, const char *name) {
    struct task t = {0};
    OK(s->ops->task_get(s->ctx, j->m.id, name, &t, &err));
    return t;
}

static size_t task_count(const struct job *j) {
    struct task_list l = {0};
    OK(s->ops->task_list(s->ctx, j->m.id, &l, &err));
    size_t n = l.n;
    task_list_cleanup(&l);
    return n;
}

static const char *task_order(const struct job *j) {
    static char buf[512];
    struct task_list l = {0};
    OK(s->ops->task_list(s->ctx, j->m.id, &l, &err));
    buf[0] = '\0';
    for (size_t i = 0; i < l.n; i++)
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s:%d", i ? " " : "",
                 l.items[i].name, l.items[i].position);
    task_list_cleanup(&l);
    return buf;
}

static void move_task(const struct job *j, const char *name, int to) {
    struct task t = get_task(j, name);
    int old = t.position;
    t.position = to;
    OK(model_task_update(s, j, &t, old, &err));
    task_cleanup(&t);
}

static struct var get_var(const struct task *t, const char *name) {
    struct var v = {0};
    OK(s->ops->var_get(s->ctx, t->m.id, name, &v, &err));
    return v;
}

static size_t job_var_count(const struct job *j) {
    struct var_list l = {0};
    OK(s->ops->var_list_job(s->ctx, j->m.id, &l, &err));
    size_t n = l.n;
    var_list_cleanup(&l);
    return n;
}

/* A custom variable of t; value is JSON text or NULL. */
static struct var add_custom(const struct task *t, const char *name, int type, const char *value) {
    struct var v = {.name = strdup(name), .type = type, .description = strdup("")};
    if (value != NULL) v.value = json_loads(value, JSON_DECODE_ANY, NULL);
    OK(model_var_create(s, t, &v, &err));
    return v;
}

/* Asserts that err holds a field error for `field` (and only that one). */
static void assert_field_error(const char *field) {
    cr_assert_eq(err.code, DMT_ERR_INVALID, "code %s", dmt_status_name(err.code));
    cr_assert(json_is_array(err.fields), "no field errors");
    cr_assert_eq(json_array_size(err.fields), 1, "fields: %zu", json_array_size(err.fields));
    json_t *f = json_array_get(err.fields, 0);
    cr_assert_str_eq(json_string_value(json_object_get(f, "field")), field);
    cr_assert_not_null(json_string_value(json_object_get(f, "message")));
    cr_assert_gt(strlen(json_string_value(json_object_get(f, "message"))), 0);
}

/* --- fixture: a fresh store with envs dev, prod and the job "deploy" ---- */

static void setup(void) {
    char url[300];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(url, sizeof(url), "sqlite:%s/dmt.db", dir);
    dmt_err_init(&err);
    plugin_registry_init(NULL, NULL);
    OK(store_open(url, &s, &err));
    cr_assert_eq(add_env("dev", 0), 1);
    cr_assert_eq(add_env("prod", 0), 2);
    job = make_job("deploy");
}

static void teardown(void) {
    char f[300];
    job_cleanup(&job);
    store_close(s);
    s = NULL;
    plugin_registry_cleanup();
    dmt_err_cleanup(&err);
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof(f), "%s/dmt.db%s", dir, suffixes[i]);
        unlink(f);
    }
    rmdir(dir);
}

TestSuite(edit, .init = setup, .fini = teardown);

/* --- environment positions --------------------------------------------- */

Test(edit, env_create_appends_at_the_end) {
    cr_assert_eq(add_env("qa", 0), 3);
    cr_assert_str_eq(env_order(), "dev:1 prod:2 qa:3");
}

Test(edit, env_create_at_1_pushes_others_down) {
    cr_assert_eq(add_env("qa", 1), 1);
    cr_assert_str_eq(env_order(), "qa:1 dev:2 prod:3");
    cr_assert_eq(add_env("stage", 3), 3);
    cr_assert_str_eq(env_order(), "qa:1 dev:2 stage:3 prod:4");
}

Test(edit, env_create_past_the_end_clamps) {
    cr_assert_eq(add_env("qa", 99), 3);
    cr_assert_eq(add_env("stage", -5), 4);
    cr_assert_str_eq(env_order(), "dev:1 prod:2 qa:3 stage:4");
}

static int create_env_tx(struct store *st, void *arg, struct dmt_err *e) {
    return model_env_create(st, arg, 1, e);
}

Test(edit, env_create_name_taken_in_tx_changes_nothing) {
    struct env e = {.name = strdup("prod"), .description = strdup(""), .grants = json_array()};
    FAILS(DMT_ERR_CONFLICT, store_tx(s, true, create_env_tx, &e, &err));
    env_cleanup(&e);
    cr_assert_str_eq(env_order(), "dev:1 prod:2");
}

Test(edit, env_move_down_and_up) {
    add_env("qa", 0);
    add_env("stage", 0);
    cr_assert_str_eq(env_order(), "dev:1 prod:2 qa:3 stage:4");
    move_env("dev", 3);
    cr_assert_str_eq(env_order(), "prod:1 qa:2 dev:3 stage:4");
    move_env("stage", 1);
    cr_assert_str_eq(env_order(), "stage:1 prod:2 qa:3 dev:4");
    move_env("qa", 99); /* past the end: last */
    cr_assert_str_eq(env_order(), "stage:1 prod:2 dev:3 qa:4");
    move_env("prod", 2); /* same place: nothing moves */
    cr_assert_str_eq(env_order(), "stage:1 prod:2 dev:3 qa:4");
}

Test(edit, env_update_writes_fields_and_bumps_version) {
    struct env e = get_env("prod");
    int64_t v = e.m.version;
    free(e.description);
    e.description = strdup("production");
    e.protected_ = true;
    OK(model_env_update(s, &e, e.position, &err));
    env_cleanup(&e);
    e = get_env("prod");
    cr_assert_gt(e.m.version, v);
    cr_assert_str_eq(e.description, "production");
    cr_assert(e.protected_);
    env_cleanup(&e);
    cr_assert_str_eq(env_order(), "dev:1 prod:2");
}

Test(edit, env_delete_renumbers) {
    add_env("qa", 0);
    add_env("stage", 0);
    struct env e = get_env("prod");
    OK(model_env_delete(s, &e, &err));
    env_cleanup(&e);
    cr_assert_str_eq(env_order(), "dev:1 qa:2 stage:3");
    e = get_env("dev");
    OK(model_env_delete(s, &e, &err));
    env_cleanup(&e);
    cr_assert_str_eq(env_order(), "qa:1 stage:2");
    e = get_env("stage");
    OK(model_env_delete(s, &e, &err));
    env_cleanup(&e);
    cr_assert_str_eq(env_order(), "qa:1");
}

/* --- task positions ---------------------------------------------------- */

Test(edit, task_create_positions) {
    add_task(&job, "a", 0, NULL);
    add_task(&job, "b", 0, NULL);
    cr_assert_str_eq(task_order(&job), "a:1 b:2");
    add_task(&job, "c", 1, NULL); /* at 1: pushes the others down */
    cr_assert_str_eq(task_order(&job), "c:1 a:2 b:3");
    add_task(&job, "d", 3, NULL); /* in the middle */
    cr_assert_str_eq(task_order(&job), "c:1 a:2 d:3 b:4");
    add_task(&job, "e", 42, NULL); /* past the end: clamps to last */
    cr_assert_str_eq(task_order(&job), "c:1 a:2 d:3 b:4 e:5");
    struct task t = get_task(&job, "e");
    cr_assert_eq(t.position, 5);
    cr_assert_eq(t.job_id, job.m.id);
    task_cleanup(&t);
}

Test(edit, task_positions_are_per_job) {
    struct job other = make_job("other");
    add_task(&job, "a", 0, NULL);
    add_task(&job, "b", 0, NULL);
    add_task(&other, "x", 0, NULL);
    add_task(&other, "y", 1, NULL);
    cr_assert_str_eq(task_order(&job), "a:1 b:2");
    cr_assert_str_eq(task_order(&other), "y:1 x:2");
    move_task(&other, "y", 2);
    cr_assert_str_eq(task_order(&job), "a:1 b:2");
    cr_assert_str_eq(task_order(&other), "x:1 y:2");
    job_cleanup(&other);
}

Test(edit, task_move_down_and_up) {
    add_task(&job, "a", 0, NULL);
    add_task(&job, "b", 0, NULL);
    add_task(&job, "c", 0, NULL);
    add_task(&job, "d", 0, NULL);
    move_task(&job, "a", 3);
    cr_assert_str_eq(task_order(&job), "b:1 c:2 a:3 d:4");
    move_task(&job, "d", 1);
    cr_assert_str_eq(task_order(&job), "d:1 b:2 c:3 a:4");
    move_task(&job, "b", 50);
    cr_assert_str_eq(task_order(&job), "d:1 c:2 a:3 b:4");
    move_task(&job, "c", 2);
    cr_assert_str_eq(task_order(&job), "d:1 c:2 a:3 b:4");
}

Test(edit, task_delete_renumbers_and_removes_variables) {
    add_task(&job, "a", 0, NULL);
    add_task(&job, "b", 0, NULL);
    add_task(&job, "c", 0, NULL);
    cr_assert_eq(job_var_count(&job), 9);
    struct task t = get_task(&job, "a");
    OK(model_task_delete(s, &job, &t, &err));
    task_cleanup(&t);
    cr_assert_str_eq(task_order(&job), "b:1 c:2");
    cr_assert_eq(job_var_count(&job), 6);
    t = get_task(&job, "c");
    OK(model_task_delete(s, &job, &t, &err));
    task_cleanup(&t);
    cr_assert_str_eq(task_order(&job), "b:1");
}

/* --- a task's variables -------------------------------------------------- */

Test(edit, task_create_makes_the_plugin_variables) {
    add_task(&job, "build", 0, NULL);
    struct task t = get_task(&job, "build");
    struct var_list l = {0};
    OK(s->ops->var_list(s->ctx, t.m.id, &l, &err));
    cr_assert_eq(l.n, 3);
    const char *names[] = {"script", "shell", "workdir"};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_str_eq(l.items[i].name, names[i]);
        cr_assert_not(l.items[i].custom, "%s is custom", names[i]);
        cr_assert_not(l.items[i].secret);
        cr_assert_eq(l.items[i].task_id, t.m.id);
    }
    cr_assert_eq(l.items[0].type, VAR_TEXT);
    cr_assert(l.items[0].required);
    cr_assert_null(l.items[0].value, "script has a default");
    cr_assert_eq(l.items[1].type, VAR_STRING);
    cr_assert_str_eq(json_string_value(l.items[1].value), "/bin/sh");
    cr_assert_eq(l.items[2].type, VAR_STRING);
    cr_assert_not(l.items[2].required);
    cr_assert_null(l.items[2].value);
    var_list_cleanup(&l);
    task_cleanup(&t);
}

Test(edit, task_create_applies_given_values) {
    add_task(&job, "build", 0,
             "{\"script\": \"make all\", \"shell\": \"/bin/bash\", \"workdir\": \"/srv\"}");
    struct task t = get_task(&job, "build");
    struct var v = get_var(&t, "script");
    cr_assert_str_eq(json_string_value(v.value), "make all");
    var_cleanup(&v);
    v = get_var(&t, "shell");
    cr_assert_str_eq(json_string_value(v.value), "/bin/bash");
    var_cleanup(&v);
    v = get_var(&t, "workdir");
    cr_assert_str_eq(json_string_value(v.value), "/srv");
    var_cleanup(&v);
    task_cleanup(&t);

    /* Only the given ones change; a reference is accepted for any type. */
    add_task(&job, "test", 0, "{\"script\": \"${{ vars.workdir }}\"}");
    t = get_task(&job, "test");
    v = get_var(&t, "script");
    cr_assert_str_eq(json_string_value(v.value), "${{ vars.workdir }}");
    var_cleanup(&v);
    v = get_var(&t, "shell");
    cr_assert_str_eq(json_string_value(v.value), "/bin/sh");
    var_cleanup(&v);
    task_cleanup(&t);
}

/* Asserts that nothing of a failed task creation reached the store. */
static void assert_nothing_written(int64_t version_before) {
    cr_assert_eq(task_count(&job), 1, "tasks: %s", task_order(&job));
    cr_assert_eq(job_var_count(&job), 3);
    cr_assert_eq(job_version(&job), version_before);
    cr_assert_str_eq(task_order(&job), "first:1");
}

Test(edit, task_create_rejects_unknown_plugin) {
    add_task(&job, "first", 0, NULL);
    int64_t v = job_version(&job);
    struct task t = {.name = strdup("x"), .plugin = strdup("nope"), .position = 1, .enabled = true};
    FAILS(DMT_ERR_INVALID, model_task_create(s, &job, &t, NULL, &err));
    task_cleanup(&t);
    assert_field_error("plugin");
    assert_nothing_written(v);
}

Test(edit, task_create_rejects_unknown_variable) {
    add_task(&job, "first", 0, NULL);
    int64_t v = job_version(&job);
    cr_assert_eq(try_task(&job, "x", 1, "{\"script\": \"ok\", \"nope\": \"x\"}"), DMT_ERR_INVALID);
    assert_field_error("variables.nope");
    assert_nothing_written(v);
}

Test(edit, task_create_rejects_wrong_type) {
    add_task(&job, "first", 0, NULL);
    int64_t v = job_version(&job);
    cr_assert_eq(try_task(&job, "x", 1, "{\"script\": 5}"), DMT_ERR_INVALID);
    assert_field_error("variables.script");
    assert_nothing_written(v);
    cr_assert_eq(try_task(&job, "x", 1, "{\"shell\": [\"/bin/sh\"]}"), DMT_ERR_INVALID);
    assert_field_error("variables.shell");
    assert_nothing_written(v);
}

Test(edit, task_create_reports_every_bad_value) {
    add_task(&job, "first", 0, NULL);
    int64_t v = job_version(&job);
    cr_assert_eq(try_task(&job, "x", 1, "{\"script\": true, \"nope\": 1, \"workdir\": 7}"),
                 DMT_ERR_INVALID);
    cr_assert_eq(json_array_size(err.fields), 3);
    assert_nothing_written(v);
}

/* --- versions: a child's change bumps its parents ------------------------ */

Test(edit, task_changes_touch_the_job) {
    int64_t v0 = job_version(&job);
    add_task(&job, "a", 0, NULL);
    int64_t v1 = job_version(&job);
    cr_assert_gt(v1, v0);
    move_task(&job, "a", 1);
    int64_t v2 = job_version(&job);
    cr_assert_gt(v2, v1);
    struct task t = get_task(&job, "a");
    OK(model_task_delete(s, &job, &t, &err));
    task_cleanup(&t);
    cr_assert_gt(job_version(&job), v2);
}

Test(edit, variable_changes_touch_task_and_job) {
    add_task(&job, "a", 0, NULL);
    struct task t = get_task(&job, "a");
    int64_t jv = job_version(&job), tv = t.m.version;
    task_cleanup(&t);

    t = get_task(&job, "a");
    struct var v = get_var(&t, "script");
    json_decref(v.value);
    v.value = json_string("echo new");
    OK(model_var_update(s, &t, &v, &err));
    var_cleanup(&v);
    task_cleanup(&t);
    t = get_task(&job, "a");
    cr_assert_gt(t.m.version, tv, "task version %lld", (long long)t.m.version);
    cr_assert_gt(job_version(&job), jv);
    v = get_var(&t, "script");
    cr_assert_str_eq(json_string_value(v.value), "echo new");
    var_cleanup(&v);

    /* An override bumps the variable, the task and the job. */
    jv = job_version(&job);
    tv = t.m.version;
    v = get_var(&t, "shell");
    int64_t vv = v.m.version;
    struct env prod = get_env("prod");
    struct override o = {0};
    bool created = false;
    json_t *val = json_string("/bin/bash");
    OK(model_override_put(s, &t, &v, &prod, val, &o, &created, &err));
    json_decref(val);
    override_cleanup(&o);
    var_cleanup(&v);
    env_cleanup(&prod);
    task_cleanup(&t);
    t = get_task(&job, "a");
    v = get_var(&t, "shell");
    cr_assert_gt(v.m.version, vv);
    cr_assert_gt(t.m.version, tv);
    cr_assert_gt(job_version(&job), jv);
    var_cleanup(&v);

    /* A custom variable too. */
    jv = job_version(&job);
    struct var c = add_custom(&t, "EXTRA", VAR_STRING, "\"x\"");
    cr_assert_gt(job_version(&job), jv);
    var_cleanup(&c);
    task_cleanup(&t);
}

/* --- variables: create, update, delete ----------------------------------- */

Test(edit, var_create_checks_type_and_marks_custom) {
    add_task(&job, "a", 0, NULL);
    struct task t = get_task(&job, "a");
    struct var bad = {.name = strdup("N"),
                      .type = VAR_INT,
                      .description = strdup(""),
                      .value = json_string("abc")};
    FAILS(DMT_ERR_INVALID, model_var_create(s, &t, &bad, &err));
    assert_field_error("value");
    var_cleanup(&bad);
    struct var none = {0};
    FAILS(DMT_ERR_NOT_FOUND, s->ops->var_get(s->ctx, t.m.id, "N", &none, &err));

    struct var good = add_custom(&t, "N", VAR_INT, "7");
    var_cleanup(&good);
    good = get_var(&t, "N");
    cr_assert(good.custom);
    cr_assert_eq(good.type, VAR_INT);
    cr_assert_eq(json_integer_value(good.value), 7);

    /* Updates are type-checked too and leave the stored value alone. */
    json_decref(good.value);
    good.value = json_string("seven");
    FAILS(DMT_ERR_INVALID, model_var_update(s, &t, &good, &err));
    assert_field_error("value");
    var_cleanup(&good);
    good = get_var(&t, "N");
    cr_assert_eq(json_integer_value(good.value), 7);
    var_cleanup(&good);
    task_cleanup(&t);
}

Test(edit, var_delete_refuses_plugin_variables) {
    add_task(&job, "a", 0, NULL);
    struct task t = get_task(&job, "a");
    struct var v = get_var(&t, "script");
    FAILS(DMT_ERR_INVALID, model_var_delete(s, &t, &v, &err));
    cr_assert(strstr(err.msg, "script") != NULL, "msg: %s", err.msg);
    var_cleanup(&v);
    v = get_var(&t, "script"); /* still there */
    var_cleanup(&v);

    struct var c = add_custom(&t, "EXTRA", VAR_STRING, NULL);
    var_cleanup(&c);
    c = get_var(&t, "EXTRA");
    OK(model_var_delete(s, &t, &c, &err));
    var_cleanup(&c);
    FAILS(DMT_ERR_NOT_FOUND, s->ops->var_get(s->ctx, t.m.id, "EXTRA", &c, &err));
    cr_assert_eq(job_var_count(&job), 3);
    task_cleanup(&t);
}

/* --- overrides ------------------------------------------------------------ */

Test(edit, override_put_created_then_replaced_and_type_checked) {
    add_task(&job, "a", 0, NULL);
    struct task t = get_task(&job, "a");
    struct var n = add_custom(&t, "N", VAR_INT, "1");
    struct env prod = get_env("prod"), dev = get_env("dev");
    struct override o = {0};
    bool created = false;

    json_t *val = json_integer(5);
    OK(model_override_put(s, &t, &n, &prod, val, &o, &created, &err));
    cr_assert(created);
    cr_assert_gt(o.m.id, 0);
    int64_t id = o.m.id;
    override_cleanup(&o);
    json_decref(val);

    val = json_integer(6);
    created = true;
    OK(model_override_put(s, &t, &n, &prod, val, &o, &created, &err));
    cr_assert_not(created);
    cr_assert_eq(o.m.id, id);
    override_cleanup(&o);
    json_decref(val);

    OK(s->ops->override_get(s->ctx, n.m.id, prod.m.id, &o, &err));
    cr_assert_eq(json_integer_value(o.value), 6);
    override_cleanup(&o);

    /* Wrong type: rejected, the stored one stays, nothing new for dev. */
    val = json_string("six");
    FAILS(DMT_ERR_INVALID, model_override_put(s, &t, &n, &prod, val, &o, &created, &err));
    assert_field_error("value");
    FAILS(DMT_ERR_INVALID, model_override_put(s, &t, &n, &dev, val, &o, &created, &err));
    json_decref(val);
    override_cleanup(&o);
    OK(s->ops->override_get(s->ctx, n.m.id, prod.m.id, &o, &err));
    cr_assert_eq(json_integer_value(o.value), 6);
    override_cleanup(&o);
    FAILS(DMT_ERR_NOT_FOUND, s->ops->override_get(s->ctx, n.m.id, dev.m.id, &o, &err));

    /* null is not a value: delete the override instead. */
    val = json_null();
    FAILS(DMT_ERR_INVALID, model_override_put(s, &t, &n, &dev, val, &o, &created, &err));
    assert_field_error("value");
    json_decref(val);
    FAILS(DMT_ERR_INVALID, model_override_put(s, &t, &n, &dev, NULL, &o, &created, &err));
    override_cleanup(&o);

    /* A reference is accepted for an int. */
    val = json_string("${{ vars.M }}");
    OK(model_override_put(s, &t, &n, &dev, val, &o, &created, &err));
    cr_assert(created);
    json_decref(val);
    override_cleanup(&o);

    /* Delete removes it. */
    OK(s->ops->override_get(s->ctx, n.m.id, prod.m.id, &o, &err));
    OK(model_override_delete(s, &t, &n, &o, &err));
    override_cleanup(&o);
    FAILS(DMT_ERR_NOT_FOUND, s->ops->override_get(s->ctx, n.m.id, prod.m.id, &o, &err));

    var_cleanup(&n);
    env_cleanup(&prod);
    env_cleanup(&dev);
    task_cleanup(&t);
}

/* --- var_value_check ------------------------------------------------------ */

/* Checks the JSON text `value` against a variable of type `type` (enum
 * values as JSON text or NULL); returns the status and leaves err set. */
static int check(int type, const char *values, const char *value) {
    struct var v = {.name = "V", .type = type};
    if (values != NULL) v.values = json_loads(values, 0, NULL);
    json_t *val = json_loads(value, JSON_DECODE_ANY, NULL);
    cr_assert_not_null(val, "bad JSON in test: %s", value);
    dmt_err_cleanup(&err);
    int rc = var_value_check(&v, val, "value", &err);
    if (rc == DMT_OK)
        cr_assert_null(err.fields, "%s accepted but a field error was added", value);
    else
        assert_field_error("value");
    json_decref(val);
    json_decref(v.values);
    return rc;
}

#define ACCEPTS(type, values, value)                                                               \
    cr_expect_eq(check(type, values, value), DMT_OK, "%s should accept %s", #type, value)
#define REJECTS(type, values, value)                                                               \
    cr_expect_eq(check(type, values, value), DMT_ERR_INVALID, "%s should reject %s", #type, value)

Test(edit, value_check_int) {
    ACCEPTS(VAR_INT, NULL, "42");
    ACCEPTS(VAR_INT, NULL, "-1");
    ACCEPTS(VAR_INT, NULL, "\"${{ vars.N }}\"");
    ACCEPTS(VAR_INT, NULL, "\"1${{ env.name }}\"");
    REJECTS(VAR_INT, NULL, "\"42\"");
    REJECTS(VAR_INT, NULL, "4.5");
    REJECTS(VAR_INT, NULL, "true");
    REJECTS(VAR_INT, NULL, "{}");
    REJECTS(VAR_INT, NULL, "\"{{ vars.N }}\"");
}

Test(edit, value_check_bool) {
    ACCEPTS(VAR_BOOL, NULL, "true");
    ACCEPTS(VAR_BOOL, NULL, "false");
    ACCEPTS(VAR_BOOL, NULL, "\"${{ vars.B }}\"");
    REJECTS(VAR_BOOL, NULL, "\"true\"");
    REJECTS(VAR_BOOL, NULL, "1");
    REJECTS(VAR_BOOL, NULL, "[]");
}

Test(edit, value_check_enum) {
    ACCEPTS(VAR_ENUM, "[\"blue\", \"green\"]", "\"blue\"");
    ACCEPTS(VAR_ENUM, "[\"blue\", \"green\"]", "\"green\"");
    ACCEPTS(VAR_ENUM, "[\"blue\", \"green\"]", "\"${{ vars.COLOR }}\"");
    REJECTS(VAR_ENUM, "[\"blue\", \"green\"]", "\"red\"");
    REJECTS(VAR_ENUM, "[\"blue\", \"green\"]", "\"Blue\"");
    REJECTS(VAR_ENUM, "[\"blue\", \"green\"]", "1");
    REJECTS(VAR_ENUM, NULL, "\"blue\""); /* no allowed values: nothing fits */
    cr_assert_eq(check(VAR_ENUM, "[\"blue\", \"green\"]", "\"red\""), DMT_ERR_INVALID);
    const char *msg = json_string_value(json_object_get(json_array_get(err.fields, 0), "message"));
    cr_assert(strstr(msg, "blue") != NULL && strstr(msg, "green") != NULL, "msg: %s", msg);
}

Test(edit, value_check_json_string_text) {
    ACCEPTS(VAR_JSON, NULL, "{\"a\": [1, 2]}");
    ACCEPTS(VAR_JSON, NULL, "[1]");
    ACCEPTS(VAR_JSON, NULL, "3");
    ACCEPTS(VAR_JSON, NULL, "\"text\"");
    ACCEPTS(VAR_JSON, NULL, "null");
    ACCEPTS(VAR_STRING, NULL, "\"x\"");
    ACCEPTS(VAR_STRING, NULL, "\"\"");
    ACCEPTS(VAR_STRING, NULL, "\"${{ env.name }}\"");
    REJECTS(VAR_STRING, NULL, "5");
    REJECTS(VAR_STRING, NULL, "false");
    REJECTS(VAR_STRING, NULL, "{\"a\": 1}");
    ACCEPTS(VAR_TEXT, NULL, "\"line 1\\nline 2\"");
    REJECTS(VAR_TEXT, NULL, "[\"x\"]");
}

Test(edit, value_check_without_err) {
    struct var v = {.name = "V", .type = VAR_INT};
    json_t *val = json_string("x");
    cr_assert_eq(var_value_check(&v, val, "value", NULL), DMT_ERR_INVALID);
    json_decref(val);
}
