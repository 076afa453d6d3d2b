/* test_store.c - a store backend through struct store_ops (SQLite, or
 * PostgreSQL when DMT_TEST_DB says so: see testdb.h). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "testdb.h"

static char dir[] = "/tmp/dmt-test-store-XXXXXX";
static char path[256];
static struct store *s;
static struct dmt_err err;

/* Calls one op of store st with the shared err, cleared first. */
#define CALL(st, op, ...) (dmt_err_cleanup(&err), (st)->ops->op((st)->ctx, __VA_ARGS__, &err))
#define EXPECT(code, st, op, ...)                                                                  \
    do {                                                                                           \
        int rc_ = CALL(st, op, __VA_ARGS__);                                                       \
        cr_assert_eq(rc_, (code), "%s: got %s (%s)", #op, dmt_status_name(rc_), err.msg);          \
    } while (0)
#define OK(st, op, ...) EXPECT(DMT_OK, st, op, __VA_ARGS__)

static struct store *open_store(void) {
    struct store *st = NULL;
    dmt_err_cleanup(&err);
    int rc = store_open(path, &st, &err);
    cr_assert_eq(rc, DMT_OK, "store_open: %s", err.msg);
    cr_assert_not_null(st);
    cr_assert_str_eq(st->ops->name, tdb_pg ? "postgres" : "sqlite");
    return st;
}

static void setup(void) {
    cr_assert_not_null(mkdtemp(dir));
    tdb_url(path, sizeof(path), dir);
    tdb_reset(path);
    dmt_err_init(&err);
    s = open_store();
}

static void teardown(void) {
    char f[300];
    store_close(s);
    s = NULL;
    dmt_err_cleanup(&err);
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof(f), "%s/dmt.db%s", dir, suffixes[i]);
        unlink(f);
    }
    rmdir(dir);
}

TestSuite(store, .init = setup, .fini = teardown);

/* --- builders: insert one object and return it (caller cleans up) ------ */

static struct env add_env(struct store *st, const char *name, int position) {
    struct env e = {0};
    e.name = strdup(name);
    e.description = strdup("");
    e.position = position;
    e.grants = json_array();
    OK(st, env_insert, &e);
    return e;
}

static struct job add_job(const char *name) {
    struct job j = {0};
    j.name = strdup(name);
    j.description = strdup("a job");
    OK(s, job_insert, &j);
    return j;
}

static struct task add_task(int64_t job_id, const char *name, int position) {
    struct task t = {0};
    t.job_id = job_id;
    t.name = strdup(name);
    t.plugin = strdup("shell");
    t.position = position;
    t.enabled = true;
    OK(s, task_insert, &t);
    return t;
}

static struct var add_var(int64_t task_id, const char *name, json_t *value) {
    struct var v = {0};
    v.task_id = task_id;
    v.name = strdup(name);
    v.type = VAR_STRING;
    v.description = strdup("");
    v.value = value;
    OK(s, var_insert, &v);
    return v;
}

static struct override put_override(int64_t var_id, int64_t env_id, json_t *value) {
    struct override o = {0};
    o.var_id = var_id;
    o.env_id = env_id;
    o.value = value;
    OK(s, override_put, &o);
    return o;
}

static void assert_meta_fresh(const struct meta *m) {
    cr_assert_gt(m->id, 0);
    cr_assert_eq(m->version, 1);
    cr_assert_eq(strlen(m->created_at), 24, "created_at '%s'", m->created_at);
    cr_assert_str_eq(m->created_at, m->updated_at);
}

/* --- environments ------------------------------------------------------ */

Test(store, env_crud) {
    struct env prod = add_env(s, "prod", 2);
    struct env dev = add_env(s, "dev", 1);
    assert_meta_fresh(&prod.m);
    cr_assert_neq(prod.m.id, dev.m.id);

    struct env got = {0};
    OK(s, env_get, "prod", &got);
    cr_assert_eq(got.m.id, prod.m.id);
    cr_assert_str_eq(got.name, "prod");
    cr_assert_str_eq(got.description, "");
    cr_assert_eq(got.position, 2);
    cr_assert_not(got.protected_);
    cr_assert(json_is_array(got.grants) && json_array_size(got.grants) == 0);
    env_cleanup(&got);

    free(prod.description);
    prod.description = strdup("production");
    prod.protected_ = true;
    json_array_append_new(prod.grants, json_string("alice"));
    OK(s, env_update, &prod);
    cr_assert_eq(prod.m.version, 2);
    OK(s, env_get, "prod", &got);
    cr_assert_eq(got.m.version, 2);
    cr_assert_str_eq(got.description, "production");
    cr_assert(got.protected_);
    cr_assert_str_eq(json_string_value(json_array_get(got.grants, 0)), "alice");
    cr_assert_str_eq(got.m.created_at, prod.m.created_at);
    env_cleanup(&got);

    struct env_list l = {0};
    OK(s, env_list, &l);
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(l.items[0].name, "dev");
    cr_assert_str_eq(l.items[1].name, "prod");
    env_list_cleanup(&l);

    OK(s, env_delete, dev.m.id);
    EXPECT(DMT_ERR_NOT_FOUND, s, env_get, "dev", &got);
    cr_assert_str_eq(err.msg, "no environment named 'dev'");
    EXPECT(DMT_ERR_NOT_FOUND, s, env_delete, dev.m.id);
    EXPECT(DMT_ERR_NOT_FOUND, s, env_update, &dev);
    env_cleanup(&prod);
    env_cleanup(&dev);
}

Test(store, env_order_by_position_then_id) {
    struct env a = add_env(s, "a", 2), b = add_env(s, "b", 1), c = add_env(s, "c", 2);
    struct env_list l = {0};
    OK(s, env_list, &l);
    cr_assert_eq(l.n, 3);
    cr_assert_str_eq(l.items[0].name, "b");
    cr_assert_str_eq(l.items[1].name, "a");
    cr_assert_str_eq(l.items[2].name, "c");
    env_list_cleanup(&l);
    env_cleanup(&a);
    env_cleanup(&b);
    env_cleanup(&c);
}

Test(store, env_conflict) {
    struct env prod = add_env(s, "prod", 1);
    struct env dup = {0};
    dup.name = strdup("prod");
    dup.position = 2;
    EXPECT(DMT_ERR_CONFLICT, s, env_insert, &dup);
    cr_assert_str_eq(err.msg, "an environment named 'prod' already exists");
    cr_assert_eq(dup.m.id, 0, "meta filled on failure");

    struct env dev = add_env(s, "dev", 2);
    free(dev.name);
    dev.name = strdup("prod");
    EXPECT(DMT_ERR_CONFLICT, s, env_update, &dev);
    cr_assert_eq(dev.m.version, 1);
    env_cleanup(&dup);
    env_cleanup(&dev);
    env_cleanup(&prod);
}

/* --- jobs -------------------------------------------------------------- */

Test(store, job_crud_and_order) {
    struct job b = add_job("build"), a = add_job("alpha"), z = add_job("zeta");
    assert_meta_fresh(&b.m);
    struct job_list l = {0};
    OK(s, job_list, &l);
    cr_assert_eq(l.n, 3);
    cr_assert_str_eq(l.items[0].name, "alpha");
    cr_assert_str_eq(l.items[1].name, "build");
    cr_assert_str_eq(l.items[2].name, "zeta");
    cr_assert_str_eq(l.items[0].description, "a job");
    job_list_cleanup(&l);

    free(b.name);
    b.name = strdup("beta");
    OK(s, job_update, &b);
    cr_assert_eq(b.m.version, 2);
    struct job got = {0};
    EXPECT(DMT_ERR_NOT_FOUND, s, job_get, "build", &got);
    cr_assert_str_eq(err.msg, "no job named 'build'");
    OK(s, job_get, "beta", &got);
    cr_assert_eq(got.m.id, b.m.id);
    job_cleanup(&got);

    struct job dup = {0};
    dup.name = strdup("zeta");
    EXPECT(DMT_ERR_CONFLICT, s, job_insert, &dup);
    cr_assert_str_eq(err.msg, "a job named 'zeta' already exists");
    job_cleanup(&dup);

    OK(s, job_delete, a.m.id);
    EXPECT(DMT_ERR_NOT_FOUND, s, job_delete, a.m.id);
    EXPECT(DMT_ERR_NOT_FOUND, s, job_update, &a);
    job_cleanup(&a);
    job_cleanup(&b);
    job_cleanup(&z);
}

/* --- tasks ------------------------------------------------------------- */

Test(store, task_crud) {
    struct job j = add_job("deploy");
    struct task t = add_task(j.m.id, "build", 1);
    assert_meta_fresh(&t.m);

    struct task got = {0};
    OK(s, task_get, j.m.id, "build", &got);
    cr_assert_eq(got.m.id, t.m.id);
    cr_assert_eq(got.job_id, j.m.id);
    cr_assert_str_eq(got.plugin, "shell");
    cr_assert_eq(got.on_failure, ON_FAILURE_STOP);
    cr_assert(got.enabled);
    task_cleanup(&got);

    t.on_failure = ON_FAILURE_CONTINUE;
    t.timeout_s = 30;
    t.retries = 2;
    t.enabled = false;
    t.position = 5;
    OK(s, task_update, &t);
    cr_assert_eq(t.m.version, 2);
    OK(s, task_get, j.m.id, "build", &got);
    cr_assert_eq(got.on_failure, ON_FAILURE_CONTINUE);
    cr_assert_eq(got.timeout_s, 30);
    cr_assert_eq(got.retries, 2);
    cr_assert_not(got.enabled);
    cr_assert_eq(got.position, 5);
    cr_assert_eq(got.m.version, 2);
    task_cleanup(&got);

    EXPECT(DMT_ERR_NOT_FOUND, s, task_get, j.m.id, "nope", &got);
    cr_assert_str_eq(err.msg, "no task named 'nope' in this job");
    OK(s, task_delete, t.m.id);
    EXPECT(DMT_ERR_NOT_FOUND, s, task_delete, t.m.id);
    EXPECT(DMT_ERR_NOT_FOUND, s, task_update, &t);

    /* A task of a job that does not exist. */
    struct task orphan = {0};
    orphan.job_id = j.m.id + 1000;
    orphan.name = strdup("x");
    orphan.plugin = strdup("shell");
    EXPECT(DMT_ERR_NOT_FOUND, s, task_insert, &orphan);
    task_cleanup(&orphan);
    task_cleanup(&t);
    job_cleanup(&j);
}

Test(store, task_names_unique_per_job) {
    struct job j1 = add_job("one"), j2 = add_job("two");
    struct task a = add_task(j1.m.id, "build", 1);
    struct task dup = {0};
    dup.job_id = j1.m.id;
    dup.name = strdup("build");
    dup.plugin = strdup("shell");
    dup.position = 2;
    EXPECT(DMT_ERR_CONFLICT, s, task_insert, &dup);
    cr_assert_str_eq(err.msg, "a task named 'build' already exists in this job");
    struct task other = add_task(j2.m.id, "build", 1);
    cr_assert_neq(other.m.id, a.m.id);
    task_cleanup(&dup);
    task_cleanup(&other);
    task_cleanup(&a);
    job_cleanup(&j1);
    job_cleanup(&j2);
}

Test(store, task_order) {
    struct job j = add_job("deploy");
    struct task c = add_task(j.m.id, "c", 3), a = add_task(j.m.id, "a", 1);
    struct task b = add_task(j.m.id, "b", 2), b2 = add_task(j.m.id, "b2", 2);
    struct task_list l = {0};
    OK(s, task_list, j.m.id, &l);
    cr_assert_eq(l.n, 4);
    const char *want[] = {"a", "b", "b2", "c"};
    for (size_t i = 0; i < 4; i++)
        cr_assert_str_eq(l.items[i].name, want[i]);
    task_list_cleanup(&l);
    OK(s, task_list, j.m.id + 99, &l);
    cr_assert_eq(l.n, 0);
    task_list_cleanup(&l);
    task_cleanup(&a);
    task_cleanup(&b);
    task_cleanup(&b2);
    task_cleanup(&c);
    job_cleanup(&j);
}

/* --- variables --------------------------------------------------------- */

Test(store, var_crud) {
    struct job j = add_job("deploy");
    struct task t = add_task(j.m.id, "build", 1);
    struct var v = {0};
    v.task_id = t.m.id;
    v.name = strdup("LEVEL");
    v.type = VAR_ENUM;
    v.required = true;
    v.secret = true;
    v.custom = true;
    v.description = strdup("how loud");
    v.value = json_string("low");
    v.values = json_pack("[ss]", "low", "high");
    OK(s, var_insert, &v);
    assert_meta_fresh(&v.m);

    struct var got = {0};
    OK(s, var_get, t.m.id, "LEVEL", &got);
    cr_assert_eq(got.m.id, v.m.id);
    cr_assert_eq(got.task_id, t.m.id);
    cr_assert_eq(got.type, VAR_ENUM);
    cr_assert(got.required && got.secret && got.custom);
    cr_assert_str_eq(got.description, "how loud");
    cr_assert(json_equal(got.value, v.value));
    cr_assert(json_equal(got.values, v.values));
    var_cleanup(&got);

    /* Unset default and scalar JSON values round-trip. */
    struct var n = add_var(t.m.id, "COUNT", json_integer(42));
    struct var u = add_var(t.m.id, "UNSET", NULL);
    OK(s, var_get, t.m.id, "COUNT", &got);
    cr_assert(json_is_integer(got.value) && json_integer_value(got.value) == 42);
    cr_assert_null(got.values);
    var_cleanup(&got);
    OK(s, var_get, t.m.id, "UNSET", &got);
    cr_assert_null(got.value);
    var_cleanup(&got);

    json_decref(u.value);
    u.value = json_pack("{s:[i,b,n]}", "a", 1, 1);
    OK(s, var_update, &u);
    cr_assert_eq(u.m.version, 2);
    OK(s, var_get, t.m.id, "UNSET", &got);
    cr_assert(json_equal(got.value, u.value));
    cr_assert_eq(got.m.version, 2);
    var_cleanup(&got);

    struct var dup = {0};
    dup.task_id = t.m.id;
    dup.name = strdup("COUNT");
    EXPECT(DMT_ERR_CONFLICT, s, var_insert, &dup);
    cr_assert_str_eq(err.msg, "a variable named 'COUNT' already exists in this task");
    var_cleanup(&dup);

    EXPECT(DMT_ERR_NOT_FOUND, s, var_get, t.m.id, "NOPE", &got);
    cr_assert_str_eq(err.msg, "no variable named 'NOPE' in this task");
    OK(s, var_delete, n.m.id);
    EXPECT(DMT_ERR_NOT_FOUND, s, var_delete, n.m.id);
    EXPECT(DMT_ERR_NOT_FOUND, s, var_update, &n);

    struct var_list l = {0};
    OK(s, var_list, t.m.id, &l);
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(l.items[0].name, "LEVEL");
    cr_assert_str_eq(l.items[1].name, "UNSET");
    var_list_cleanup(&l);

    var_cleanup(&v);
    var_cleanup(&n);
    var_cleanup(&u);
    task_cleanup(&t);
    job_cleanup(&j);
}

Test(store, var_list_job_order) {
    struct job j = add_job("deploy"), other = add_job("other");
    struct task t1 = add_task(j.m.id, "second", 2), t2 = add_task(j.m.id, "first", 1);
    struct task t3 = add_task(other.m.id, "x", 1);
    struct var a = add_var(t1.m.id, "A", NULL), b = add_var(t2.m.id, "B", NULL);
    struct var c = add_var(t1.m.id, "C", NULL), d = add_var(t3.m.id, "D", NULL);
    struct var_list l = {0};
    OK(s, var_list_job, j.m.id, &l);
    cr_assert_eq(l.n, 3);
    cr_assert_str_eq(l.items[0].name, "B");
    cr_assert_str_eq(l.items[1].name, "A");
    cr_assert_str_eq(l.items[2].name, "C");
    var_list_cleanup(&l);
    var_cleanup(&a);
    var_cleanup(&b);
    var_cleanup(&c);
    var_cleanup(&d);
    task_cleanup(&t1);
    task_cleanup(&t2);
    task_cleanup(&t3);
    job_cleanup(&j);
    job_cleanup(&other);
}

/* --- overrides --------------------------------------------------------- */

Test(store, override_put_insert_then_update) {
    struct env prod = add_env(s, "prod", 1), dev = add_env(s, "dev", 2);
    struct job j = add_job("deploy");
    struct task t = add_task(j.m.id, "build", 1);
    struct var v = add_var(t.m.id, "A", json_string("default"));

    struct override o = put_override(v.m.id, prod.m.id, json_string("p1"));
    assert_meta_fresh(&o.m);
    int64_t id = o.m.id;

    json_decref(o.value);
    o.value = json_string("p2");
    o.m.id = 0; /* put finds the row by (var, env), not by id */
    OK(s, override_put, &o);
    cr_assert_eq(o.m.id, id);
    cr_assert_eq(o.m.version, 2);

    struct override got = {0};
    OK(s, override_get, v.m.id, prod.m.id, &got);
    cr_assert_eq(got.m.id, id);
    cr_assert_eq(got.m.version, 2);
    cr_assert_str_eq(json_string_value(got.value), "p2");
    cr_assert_str_eq(got.m.created_at, o.m.created_at);
    override_cleanup(&got);

    EXPECT(DMT_ERR_NOT_FOUND, s, override_get, v.m.id, dev.m.id, &got);
    struct override d = put_override(v.m.id, dev.m.id, json_false());
    cr_assert_gt(d.m.id, id);

    struct override_list l = {0};
    OK(s, override_list_var, v.m.id, &l);
    cr_assert_eq(l.n, 2);
    cr_assert_eq(l.items[0].m.id, id);
    cr_assert(json_is_false(l.items[1].value));
    override_list_cleanup(&l);
    OK(s, override_list_job, j.m.id, &l);
    cr_assert_eq(l.n, 2);
    cr_assert_eq(l.items[0].env_id, prod.m.id);
    cr_assert_eq(l.items[1].env_id, dev.m.id);
    override_list_cleanup(&l);

    /* An override for a missing environment. */
    struct override bad = {0};
    bad.var_id = v.m.id;
    bad.env_id = dev.m.id + 100;
    bad.value = json_string("x");
    EXPECT(DMT_ERR_NOT_FOUND, s, override_put, &bad);
    override_cleanup(&bad);

    OK(s, override_delete, d.m.id);
    EXPECT(DMT_ERR_NOT_FOUND, s, override_delete, d.m.id);
    OK(s, override_list_var, v.m.id, &l);
    cr_assert_eq(l.n, 1);
    override_list_cleanup(&l);

    override_cleanup(&o);
    override_cleanup(&d);
    var_cleanup(&v);
    task_cleanup(&t);
    job_cleanup(&j);
    env_cleanup(&prod);
    env_cleanup(&dev);
}

/* --- cascades ---------------------------------------------------------- */

Test(store, delete_job_cascades) {
    struct env prod = add_env(s, "prod", 1);
    struct job j = add_job("deploy"), keep = add_job("keep");
    struct task t = add_task(j.m.id, "build", 1), kt = add_task(keep.m.id, "build", 1);
    struct var v = add_var(t.m.id, "A", NULL), kv = add_var(kt.m.id, "A", NULL);
    struct override o = put_override(v.m.id, prod.m.id, json_string("x"));
    struct override ko = put_override(kv.m.id, prod.m.id, json_string("y"));

    OK(s, job_delete, j.m.id);
    struct task_list tl = {0};
    OK(s, task_list, j.m.id, &tl);
    cr_assert_eq(tl.n, 0);
    task_list_cleanup(&tl);
    struct var_list vl = {0};
    OK(s, var_list, t.m.id, &vl);
    cr_assert_eq(vl.n, 0);
    var_list_cleanup(&vl);
    struct override_list ol = {0};
    OK(s, override_list_var, v.m.id, &ol);
    cr_assert_eq(ol.n, 0);
    override_list_cleanup(&ol);
    EXPECT(DMT_ERR_NOT_FOUND, s, touch, KIND_OVERRIDE, o.m.id);

    /* The other job is untouched. */
    OK(s, var_list_job, keep.m.id, &vl);
    cr_assert_eq(vl.n, 1);
    var_list_cleanup(&vl);
    OK(s, override_list_job, keep.m.id, &ol);
    cr_assert_eq(ol.n, 1);
    override_list_cleanup(&ol);

    /* Deleting a task removes its variables. */
    OK(s, task_delete, kt.m.id);
    OK(s, var_list_job, keep.m.id, &vl);
    cr_assert_eq(vl.n, 0);
    var_list_cleanup(&vl);

    override_cleanup(&o);
    override_cleanup(&ko);
    var_cleanup(&v);
    var_cleanup(&kv);
    task_cleanup(&t);
    task_cleanup(&kt);
    job_cleanup(&j);
    job_cleanup(&keep);
    env_cleanup(&prod);
}

Test(store, delete_env_cascades_to_its_overrides) {
    struct env prod = add_env(s, "prod", 1), dev = add_env(s, "dev", 2);
    struct job j = add_job("deploy");
    struct task t = add_task(j.m.id, "build", 1);
    struct var v = add_var(t.m.id, "A", NULL);
    struct override op = put_override(v.m.id, prod.m.id, json_string("p"));
    struct override od = put_override(v.m.id, dev.m.id, json_string("d"));

    OK(s, env_delete, prod.m.id);
    struct override_list l = {0};
    OK(s, override_list_var, v.m.id, &l);
    cr_assert_eq(l.n, 1);
    cr_assert_eq(l.items[0].env_id, dev.m.id);
    override_list_cleanup(&l);
    struct var got = {0};
    OK(s, var_get, t.m.id, "A", &got);
    var_cleanup(&got);

    override_cleanup(&op);
    override_cleanup(&od);
    var_cleanup(&v);
    task_cleanup(&t);
    job_cleanup(&j);
    env_cleanup(&prod);
    env_cleanup(&dev);
}

/* --- touch ------------------------------------------------------------- */

Test(store, touch_bumps_version) {
    struct env e = add_env(s, "prod", 1);
    struct job j = add_job("deploy");
    struct task t = add_task(j.m.id, "build", 1);
    struct var v = add_var(t.m.id, "A", NULL);
    struct override o = put_override(v.m.id, e.m.id, json_integer(1));

    OK(s, touch, KIND_JOB, j.m.id);
    OK(s, touch, KIND_JOB, j.m.id);
    struct job gj = {0};
    OK(s, job_get, "deploy", &gj);
    cr_assert_eq(gj.m.version, 3);
    cr_assert_str_eq(gj.m.created_at, j.m.created_at);
    job_cleanup(&gj);

    OK(s, touch, KIND_ENV, e.m.id);
    OK(s, touch, KIND_TASK, t.m.id);
    OK(s, touch, KIND_VAR, v.m.id);
    OK(s, touch, KIND_OVERRIDE, o.m.id);
    struct env ge = {0};
    OK(s, env_get, "prod", &ge);
    cr_assert_eq(ge.m.version, 2);
    env_cleanup(&ge);
    struct task gt = {0};
    OK(s, task_get, j.m.id, "build", &gt);
    cr_assert_eq(gt.m.version, 2);
    task_cleanup(&gt);
    struct var gv = {0};
    OK(s, var_get, t.m.id, "A", &gv);
    cr_assert_eq(gv.m.version, 2);
    var_cleanup(&gv);
    struct override go = {0};
    OK(s, override_get, v.m.id, e.m.id, &go);
    cr_assert_eq(go.m.version, 2);
    override_cleanup(&go);

    EXPECT(DMT_ERR_NOT_FOUND, s, touch, KIND_ENV, 9999);
    cr_assert_str_eq(err.msg, "no environment with id 9999");
    EXPECT(DMT_ERR_NOT_FOUND, s, touch, KIND_JOB, 9999);
    EXPECT(DMT_ERR_NOT_FOUND, s, touch, KIND_TASK, 9999);
    EXPECT(DMT_ERR_NOT_FOUND, s, touch, KIND_VAR, 9999);
    EXPECT(DMT_ERR_NOT_FOUND, s, touch, KIND_OVERRIDE, 9999);

    override_cleanup(&o);
    var_cleanup(&v);
    task_cleanup(&t);
    job_cleanup(&j);
    env_cleanup(&e);
}

/* --- users, tokens, kv ------------------------------------------------- */

Test(store, users_and_tokens) {
    struct user u = {0};
    u.name = strdup("alice");
    u.role = strdup("admin");
    u.password_hash = strdup("$argon2id$v=19$m=65536,t=2,p=1$abc$def");
    OK(s, user_insert, &u);
    assert_meta_fresh(&u.m);

    struct user got = {0};
    OK(s, user_get, "alice", &got);
    cr_assert_eq(got.m.id, u.m.id);
    cr_assert_str_eq(got.role, "admin");
    cr_assert_str_eq(got.password_hash, u.password_hash);
    user_cleanup(&got);
    EXPECT(DMT_ERR_NOT_FOUND, s, user_get, "bob", &got);
    cr_assert_str_eq(err.msg, "no user named 'bob'");

    struct user dup = {0};
    dup.name = strdup("alice");
    dup.role = strdup("viewer");
    EXPECT(DMT_ERR_CONFLICT, s, user_insert, &dup);
    cr_assert_str_eq(err.msg, "a user named 'alice' already exists");
    user_cleanup(&dup);

    struct user nopw = {0};
    nopw.name = strdup("robot");
    nopw.role = strdup("operator");
    OK(s, user_insert, &nopw);
    OK(s, user_get, "robot", &got);
    cr_assert_null(got.password_hash);
    user_cleanup(&got);

    struct token t = {0};
    t.name = strdup("ci");
    t.user_id = u.m.id;
    t.hash = strdup("00ff");
    OK(s, token_insert, &t);
    assert_meta_fresh(&t.m);
    struct token gt = {0};
    OK(s, token_find, "00ff", &gt);
    cr_assert_eq(gt.m.id, t.m.id);
    cr_assert_eq(gt.user_id, u.m.id);
    cr_assert_str_eq(gt.name, "ci");
    token_cleanup(&gt);
    EXPECT(DMT_ERR_NOT_FOUND, s, token_find, "beef", &gt);

    struct token td = {0};
    td.name = strdup("again");
    td.user_id = u.m.id;
    td.hash = strdup("00ff");
    EXPECT(DMT_ERR_CONFLICT, s, token_insert, &td);
    cr_assert_null(strstr(err.msg, "00ff"), "the hash leaks into '%s'", err.msg);
    td.user_id = 12345;
    free(td.hash);
    td.hash = strdup("abcd");
    EXPECT(DMT_ERR_NOT_FOUND, s, token_insert, &td);
    token_cleanup(&td);

    token_cleanup(&t);
    user_cleanup(&u);
    user_cleanup(&nopw);
}

Test(store, kv) {
    char *v = NULL;
    EXPECT(DMT_ERR_NOT_FOUND, s, kv_get, "demo_created", &v);
    cr_assert_null(v);
    OK(s, kv_set, "demo_created", "1");
    OK(s, kv_get, "demo_created", &v);
    cr_assert_str_eq(v, "1");
    free(v);
    OK(s, kv_set, "demo_created", "2");
    OK(s, kv_get, "demo_created", &v);
    cr_assert_str_eq(v, "2");
    free(v);
}

/* --- durability, connections, transactions ----------------------------- */

static int count_rows(const char *sql) { return (int)tdb_count(path, sql); }

static char *first_text(const char *sql) { return tdb_text(path, sql); }

Test(store, reopen_keeps_data_and_migrations) {
    struct env e = add_env(s, "prod", 1);
    int migrations = count_rows("SELECT COUNT(*) FROM schema_migrations");
    cr_assert_geq(migrations, 1);
    const char *applied_sql =
        tdb_pg ? "SELECT string_agg(version || '@' || applied_at, ',' ORDER BY version) "
                 "FROM schema_migrations"
               : "SELECT group_concat(version || '@' || applied_at) FROM schema_migrations";
    char *applied = first_text(applied_sql);
    if (!tdb_pg) { /* WAL is SQLite's; PostgreSQL has its own log */
        char *mode = first_text("PRAGMA journal_mode");
        cr_assert_str_eq(mode, "wal");
        free(mode);
    }

    store_close(s);
    s = open_store();
    struct env got = {0};
    OK(s, env_get, "prod", &got);
    cr_assert_eq(got.m.id, e.m.id);
    env_cleanup(&got);
    cr_assert_eq(count_rows("SELECT COUNT(*) FROM schema_migrations"), migrations);
    char *again = first_text(applied_sql);
    cr_assert_str_eq(again, applied);
    free(applied);
    free(again);
    env_cleanup(&e);
}

Test(store, foreign_keys_are_on) {
    cr_assert_eq(count_rows(tdb_pg ? "SELECT COUNT(*) FROM information_schema.table_constraints "
                                     "WHERE table_name = 'tasks' AND constraint_type = 'FOREIGN KEY'"
                                   : "SELECT COUNT(*) FROM pragma_foreign_key_list('tasks')"),
                 1);
}

Test(store, two_handles_see_committed_data) {
    struct store *b = open_store();
    OK(s, begin, true);
    cr_assert(s->ops->in_tx(s->ctx));
    cr_assert_not(b->ops->in_tx(b->ctx));
    struct env e = add_env(s, "prod", 1);
    struct env got = {0};
    EXPECT(DMT_ERR_NOT_FOUND, b, env_get, "prod", &got);
    dmt_err_cleanup(&err);
    cr_assert_eq(s->ops->commit(s->ctx, &err), DMT_OK, "%s", err.msg);
    cr_assert_not(s->ops->in_tx(s->ctx));
    OK(b, env_get, "prod", &got);
    cr_assert_eq(got.m.id, e.m.id);
    env_cleanup(&got);

    /* And the other way round, in autocommit. */
    struct env d = add_env(b, "dev", 2);
    OK(s, env_get, "dev", &got);
    env_cleanup(&got);
    env_cleanup(&d);
    env_cleanup(&e);
    store_close(b);
}

Test(store, rollback_discards) {
    OK(s, begin, true);
    struct env e = add_env(s, "prod", 1);
    s->ops->rollback(s->ctx);
    cr_assert_not(s->ops->in_tx(s->ctx));
    struct env got = {0};
    EXPECT(DMT_ERR_NOT_FOUND, s, env_get, "prod", &got);
    s->ops->rollback(s->ctx); /* no transaction: nothing happens */
    env_cleanup(&e);
}

Test(store, stale_read_transaction_is_busy) {
    /* A deferred transaction that read a snapshot cannot write after
     * another connection committed: that is retryable, not a hard error. */
    struct store *b = open_store();
    struct env e = add_env(s, "prod", 1);
    OK(s, begin, false);
    struct env_list l = {0};
    OK(s, env_list, &l);
    env_list_cleanup(&l);
    struct env d = add_env(b, "dev", 2);
    struct env x = {0};
    x.name = strdup("x");
    x.position = 3;
    /* On PostgreSQL a read transaction is READ ONLY: a write in it is a
     * bug of the caller, whatever other connections did. */
    EXPECT(tdb_pg ? DMT_ERR_STORE : DMT_ERR_BUSY, s, env_insert, &x);
    s->ops->rollback(s->ctx);
    env_cleanup(&x);
    env_cleanup(&d);
    env_cleanup(&e);
    store_close(b);
}

struct tx_arg {
    const char *name;
    int fail_with;  /* status fn returns after inserting */
    int busy_times; /* first attempts that return DMT_ERR_BUSY */
    int calls;
};

static int insert_env_fn(struct store *st, void *p, struct dmt_err *e) {
    struct tx_arg *a = p;
    struct env env = {0};
    a->calls++;
    env.name = strdup(a->name);
    env.position = 1;
    int rc = st->ops->env_insert(st->ctx, &env, e);
    env_cleanup(&env);
    if (rc != DMT_OK) return rc;
    if (a->calls <= a->busy_times) return dmt_err_set(e, DMT_ERR_BUSY, "pretend busy");
    if (a->fail_with != DMT_OK) return dmt_err_set(e, a->fail_with, "pretend failure");
    return DMT_OK;
}

Test(store, store_tx_commits_and_rolls_back) {
    struct env got = {0};
    struct tx_arg bad = {"bad", DMT_ERR_INVALID, 0, 0};
    dmt_err_cleanup(&err);
    cr_assert_eq(store_tx(s, true, insert_env_fn, &bad, &err), DMT_ERR_INVALID);
    cr_assert_str_eq(err.msg, "pretend failure");
    cr_assert_eq(bad.calls, 1);
    cr_assert_not(s->ops->in_tx(s->ctx));
    EXPECT(DMT_ERR_NOT_FOUND, s, env_get, "bad", &got);

    struct tx_arg good = {"good", DMT_OK, 0, 0};
    dmt_err_cleanup(&err);
    cr_assert_eq(store_tx(s, true, insert_env_fn, &good, &err), DMT_OK, "%s", err.msg);
    OK(s, env_get, "good", &got);
    env_cleanup(&got);

    /* A conflict inside the transaction is returned as is. */
    struct tx_arg dup = {"good", DMT_OK, 0, 0};
    dmt_err_cleanup(&err);
    cr_assert_eq(store_tx(s, true, insert_env_fn, &dup, &err), DMT_ERR_CONFLICT);
    cr_assert_str_eq(err.msg, "an environment named 'good' already exists");
}

Test(store, store_tx_retries_busy) {
    struct tx_arg a = {"retried", DMT_OK, 2, 0};
    dmt_err_cleanup(&err);
    cr_assert_eq(store_tx(s, true, insert_env_fn, &a, &err), DMT_OK, "%s", err.msg);
    cr_assert_eq(a.calls, 3);
    struct env_list l = {0};
    OK(s, env_list, &l);
    cr_assert_eq(l.n, 1, "the busy attempts were rolled back");
    env_list_cleanup(&l);
}

#define THREAD_INSERTS 40

static void *writer(void *p) {
    const char *prefix = p;
    struct store *st = NULL;
    struct dmt_err e;
    dmt_err_init(&e);
    if (store_open(path, &st, &e) != DMT_OK) return (void *)1;
    for (int i = 0; i < THREAD_INSERTS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "%s-%d", prefix, i);
        struct tx_arg a = {name, DMT_OK, 0, 0};
        if (store_tx(st, true, insert_env_fn, &a, &e) != DMT_OK) {
            store_close(st);
            return (void *)2;
        }
    }
    dmt_err_cleanup(&e);
    store_close(st);
    return NULL;
}

/* Bumps the change sequence behind the store's back: in this process, or
 * in a child process (another node on the same database). */
static void bump_behind(bool other_process) {
    const char *sql = "UPDATE changes SET seq = seq + 1 WHERE id = 1";
    if (!other_process) {
        tdb_exec(path, sql);
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        tdb_exec(path, sql);
        _exit(0);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

Test(store, seq_sees_every_commit_at_once) {
    /* The sequence keys the answer and credential caches (a revoked token
     * must fail on the next request), so every read outside a transaction
     * must see every commit made before it, wherever it was made. */
    struct store *b = open_store();
    int64_t v0 = 0, v1 = 0, v2 = 0, v3 = 0, v4 = 0;
    OK(s, seq_get, &v0);
    OK(s, seq_get, &v1);
    cr_assert_eq(v1, v0, "nothing changed");
    struct tx_arg a = {"prod", DMT_OK, 0, 0};
    dmt_err_cleanup(&err);
    cr_assert_eq(store_tx(b, true, insert_env_fn, &a, &err), DMT_OK, "%s", err.msg);
    OK(s, seq_get, &v1);
    cr_assert_gt(v1, v0, "a commit of another handle");
    bump_behind(false);
    OK(s, seq_get, &v2);
    cr_assert_eq(v2, v1 + 1, "a commit of another connection");
    bump_behind(true);
    OK(s, seq_get, &v3);
    cr_assert_eq(v3, v2 + 1, "a commit of another process");
    OK(s, seq_get, &v3);
    cr_assert_eq(v3, v2 + 1);

    /* Inside a transaction the sequence is the one of its snapshot. */
    OK(s, begin, false);
    OK(s, seq_get, &v4);
    cr_assert_eq(v4, v3);
    bump_behind(false);
    OK(s, seq_get, &v4);
    cr_assert_eq(v4, v3, "the snapshot's sequence");
    s->ops->rollback(s->ctx);
    OK(s, seq_get, &v4);
    cr_assert_eq(v4, v3 + 1, "after the transaction");
    store_close(b);
}

Test(store, concurrent_writers) {
    pthread_t t1, t2;
    void *r1, *r2;
    pthread_create(&t1, NULL, writer, "a");
    pthread_create(&t2, NULL, writer, "b");
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    cr_assert_null(r1);
    cr_assert_null(r2);
    struct env_list l = {0};
    OK(s, env_list, &l);
    cr_assert_eq(l.n, 2 * THREAD_INSERTS);
    env_list_cleanup(&l);
}

Test(store, concurrent_first_open) {
    /* Two handles opening a brand new file at once both migrate cleanly. */
    char f[300];
    store_close(s);
    s = NULL;
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof(f), "%s/dmt.db%s", dir, suffixes[i]);
        unlink(f);
    }
    tdb_reset(path); /* PostgreSQL: an empty schema again */
    pthread_t t1, t2;
    void *r1, *r2;
    pthread_create(&t1, NULL, writer, "a");
    pthread_create(&t2, NULL, writer, "b");
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    cr_assert_null(r1);
    cr_assert_null(r2);
    s = open_store();
    cr_assert_eq(count_rows("SELECT COUNT(*) FROM envs"), 2 * THREAD_INSERTS);
}
