/* test_resolve.c - model/resolve.c: effective values, ${{ }} references,
 * preflight errors, secret masking, the plan and the workflow documents.
 * The data is made through the model functions on a real SQLite store. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/seal.h"
#include "model/edit.h"
#include "model/secrets.h"
#include "model/resolve.h"
#include "plugin/plugin.h"

static char dir[] = "/tmp/dmt-test-resolve-XXXXXX";
static struct store *s;
static struct dmt_err err;
static struct job job; /* "webapp", made by the fixture */

#define OK(call)                                                                                   \
    do {                                                                                           \
        dmt_err_cleanup(&err);                                                                     \
        int rc_ = (call);                                                                          \
        cr_assert_eq(rc_, DMT_OK, "%s: %s (%s)", #call, dmt_status_name(rc_), err.msg);            \
    } while (0)

#define SECRET "s3cr3t-Pa55w0rd"

/* --- builders ------------------------------------------------------------ */

static void add_env(const char *name) {
    struct env e = {.name = strdup(name), .description = strdup(""), .grants = json_array()};
    OK(model_env_create(s, &e, 0, &err));
    env_cleanup(&e);
}

static json_t *parse(const char *text) {
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    cr_assert_not_null(j, "bad JSON in test: %s", text);
    return j;
}

/* A shell task appended to the job; script is its script's default (plain
 * text, not JSON) or NULL for none. */
static void add_task(const char *name, const char *script, bool enabled) {
    json_t *vals = script ? json_pack("{s:s}", "script", script) : NULL;
    struct task t = {.name = strdup(name), .plugin = strdup("shell"), .enabled = enabled};
    OK(model_task_create(s, &job, &t, vals, &err));
    task_cleanup(&t);
    json_decref(vals);
}

static struct task get_task(const char *name) {
    struct task t = {0};
    OK(s->ops->task_get(s->ctx, job.m.id, name, &t, &err));
    return t;
}

/* A custom variable of task; value is JSON text or NULL. */
static void add_var(const char *task, const char *name, int type, bool secret, bool required,
                    const char *value) {
    struct task t = get_task(task);
    struct var v = {.name = strdup(name),
                    .type = type,
                    .secret = secret,
                    .required = required,
                    .description = strdup("")};
    if (value != NULL) v.value = parse(value);
    OK(model_var_create(s, &t, &v, &err));
    var_cleanup(&v);
    task_cleanup(&t);
}

/* A custom string variable with a plain-text default. */
static void add_str(const char *task, const char *name, const char *value) {
    struct task t = get_task(task);
    struct var v = {.name = strdup(name),
                    .type = VAR_STRING,
                    .description = strdup(""),
                    .value = json_string(value)};
    OK(model_var_create(s, &t, &v, &err));
    var_cleanup(&v);
    task_cleanup(&t);
}

/* Sets the default of a variable (plain text) through model_var_update. */
static void set_default(const char *task, const char *name, const char *value) {
    struct task t = get_task(task);
    struct var v = {0};
    OK(s->ops->var_get(s->ctx, t.m.id, name, &v, &err));
    json_decref(v.value);
    v.value = value ? json_string(value) : NULL;
    OK(model_var_update(s, &t, &v, &err));
    var_cleanup(&v);
    task_cleanup(&t);
}

/* Sets the override of a variable for env (value: JSON text). */
static void set_override(const char *task, const char *name, const char *env, const char *value) {
    struct task t = get_task(task);
    struct var v = {0};
    struct env e = {0};
    struct override o = {0};
    bool created;
    OK(s->ops->var_get(s->ctx, t.m.id, name, &v, &err));
    OK(s->ops->env_get(s->ctx, env, &e, &err));
    json_t *val = parse(value);
    OK(model_override_put(s, &t, &v, &e, val, &o, &created, &err));
    json_decref(val);
    override_cleanup(&o);
    env_cleanup(&e);
    var_cleanup(&v);
    task_cleanup(&t);
}

/* --- the documents ------------------------------------------------------- */

struct plan_arg {
    const char *env;
    json_t *out;
};

/* Loads the view and computes the plan inside one read transaction. */
static int plan_tx(struct store *st, void *p, struct dmt_err *e) {
    struct plan_arg *a = p;
    struct job_view v;
    int rc = job_view_load(st, job.name, &v, e);
    if (rc == DMT_OK) rc = secrets_open_view(&v, e); /* as preflight does */
    if (rc == DMT_OK) {
        const struct env *env = NULL;
        for (size_t i = 0; i < v.envs.n; i++)
            if (strcmp(v.envs.items[i].name, a->env) == 0) env = &v.envs.items[i];
        cr_assert_not_null(env, "no env %s", a->env);
        a->out = resolve_plan(&v, env);
    }
    job_view_cleanup(&v);
    return rc;
}

/* The plan for env (new reference). Checks that no secret leaks into it. */
static json_t *plan(const char *env) {
    struct plan_arg a = {env, NULL};
    OK(store_tx(s, false, plan_tx, &a, &err));
    cr_assert_not_null(a.out);
    char *text = json_dumps(a.out, JSON_COMPACT);
    cr_assert_null(strstr(text, SECRET), "secret in the plan: %s", text);
    free(text);
    return a.out;
}

/* The workflow (new reference), loaded outside a transaction. */
static json_t *workflow(void) {
    struct job_view v;
    dmt_err_cleanup(&err);
    int rc = job_view_load(s, job.name, &v, &err);
    cr_assert_eq(rc, DMT_OK, "job_view_load: %s", err.msg);
    json_t *w = resolve_workflow(&v);
    job_view_cleanup(&v);
    cr_assert_not_null(w);
    char *text = json_dumps(w, JSON_COMPACT);
    cr_assert_null(strstr(text, SECRET), "secret in the workflow: %s", text);
    free(text);
    return w;
}

/* The plan entry {"value", "source"} of one variable (borrowed). */
static json_t *pvar(json_t *p, const char *task, const char *var) {
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(p, "tasks"), i, t) {
        if (strcmp(json_string_value(json_object_get(t, "name")), task) != 0) continue;
        json_t *v = json_object_get(json_object_get(t, "variables"), var);
        cr_assert_not_null(v, "plan has no %s.%s", task, var);
        return v;
    }
    cr_assert_fail("plan has no task %s", task);
    return NULL;
}

/* The resolved string value of a variable in the plan. */
static const char *pstr(json_t *p, const char *task, const char *var) {
    json_t *v = json_object_get(pvar(p, task, var), "value");
    cr_assert(json_is_string(v), "%s.%s is not a string", task, var);
    return json_string_value(v);
}

static const char *psource(json_t *p, const char *task, const char *var) {
    return json_string_value(json_object_get(pvar(p, task, var), "source"));
}

static size_t nerrors(json_t *p) { return json_array_size(json_object_get(p, "errors")); }

static void assert_no_errors(json_t *p) {
    char *text = json_dumps(json_object_get(p, "errors"), JSON_INDENT(1));
    cr_assert_eq(nerrors(p), 0, "errors: %s", text);
    free(text);
}

/* Asserts that errors[i] is about (task, var, env) and that its message
 * contains `needle`. */
static void assert_error(json_t *p, size_t i, const char *task, const char *var, const char *env,
                         const char *needle) {
    json_t *e = json_array_get(json_object_get(p, "errors"), i);
    char *text = json_dumps(json_object_get(p, "errors"), JSON_INDENT(1));
    cr_assert_not_null(e, "no error %zu: %s", i, text);
    cr_assert_str_eq(json_string_value(json_object_get(e, "task")), task, "%s", text);
    cr_assert_str_eq(json_string_value(json_object_get(e, "variable")), var, "%s", text);
    cr_assert_str_eq(json_string_value(json_object_get(e, "environment")), env, "%s", text);
    const char *msg = json_string_value(json_object_get(e, "message"));
    cr_assert_not_null(msg);
    cr_assert(strstr(msg, needle) != NULL, "message lacks '%s': %s", needle, text);
    cr_assert_eq(json_object_size(e), 4, "%s", text);
    free(text);
}

/* Asserts that the plan for env has exactly one error, as described. */
static void assert_one_error(const char *env, const char *task, const char *var,
                             const char *needle) {
    json_t *p = plan(env);
    char *text = json_dumps(json_object_get(p, "errors"), JSON_INDENT(1));
    cr_assert_eq(nerrors(p), 1, "errors: %s", text);
    free(text);
    assert_error(p, 0, task, var, env, needle);
    json_decref(p);
}

/* The script of task "build" resolved in dev, with no error. */
static void assert_script(const char *script, const char *want) {
    set_default("build", "script", script);
    json_t *p = plan("dev");
    assert_no_errors(p);
    cr_assert_str_eq(pstr(p, "build", "script"), want, "script: %s", script);
    json_decref(p);
}

/* --- fixture: a fresh store, envs dev and prod, the job "webapp" with one
 * shell task "build" whose script is "true" ------------------------------ */

static void setup(void) {
    char url[300];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(url, sizeof(url), "sqlite:%s/dmt.db", dir);
    dmt_err_init(&err);
    plugin_registry_init(NULL, NULL);
    static const unsigned char key[SEAL_KEY_BYTES] = {1, 2, 3};
    cr_assert_eq(seal_key_set(key), DMT_OK);
    OK(store_open(url, &s, &err));
    add_env("dev");
    add_env("prod");
    job = (struct job){.name = strdup("webapp"), .description = strdup("")};
    OK(s->ops->job_insert(s->ctx, &job, &err));
    add_task("build", "true", true);
}

static void teardown(void) {
    char f[300];
    job_cleanup(&job);
    store_close(s);
    s = NULL;
    plugin_registry_cleanup();
    seal_key_set(NULL);
    dmt_err_cleanup(&err);
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof(f), "%s/dmt.db%s", dir, suffixes[i]);
        unlink(f);
    }
    rmdir(dir);
}

TestSuite(resolve, .init = setup, .fini = teardown);

/* --- effective values ------------------------------------------------------ */

Test(resolve, plan_shape_and_sources) {
    set_override("build", "script", "prod", "\"make release\"");
    json_t *p = plan("dev");
    assert_no_errors(p);
    cr_assert_str_eq(json_string_value(json_object_get(p, "environment")), "dev");
    cr_assert_str_eq(json_string_value(json_object_get(p, "job")), "webapp");
    json_t *tasks = json_object_get(p, "tasks");
    cr_assert_eq(json_array_size(tasks), 1);
    json_t *t = json_array_get(tasks, 0);
    cr_assert_str_eq(json_string_value(json_object_get(t, "name")), "build");
    cr_assert_str_eq(json_string_value(json_object_get(t, "plugin")), "shell");
    cr_assert_eq(json_object_size(json_object_get(t, "variables")), 3);

    cr_assert_str_eq(pstr(p, "build", "script"), "true");
    cr_assert_str_eq(psource(p, "build", "script"), "default");
    cr_assert_str_eq(pstr(p, "build", "shell"), "/bin/sh");
    cr_assert_str_eq(psource(p, "build", "shell"), "default");
    cr_assert(json_is_null(json_object_get(pvar(p, "build", "workdir"), "value")));
    cr_assert_str_eq(psource(p, "build", "workdir"), "unset");
    json_decref(p);

    p = plan("prod");
    assert_no_errors(p);
    cr_assert_str_eq(pstr(p, "build", "script"), "make release");
    cr_assert_str_eq(psource(p, "build", "script"), "override");
    cr_assert_str_eq(psource(p, "build", "shell"), "default");
    json_decref(p);
}

Test(resolve, override_without_default) {
    set_override("build", "workdir", "prod", "\"/srv/prod\"");
    json_t *p = plan("prod");
    cr_assert_str_eq(pstr(p, "build", "workdir"), "/srv/prod");
    cr_assert_str_eq(psource(p, "build", "workdir"), "override");
    json_decref(p);
    p = plan("dev");
    cr_assert_str_eq(psource(p, "build", "workdir"), "unset");
    json_decref(p);
}

Test(resolve, non_string_values_stay_typed) {
    add_var("build", "N", VAR_INT, false, false, "7");
    add_var("build", "FLAG", VAR_BOOL, false, false, "true");
    add_var("build", "CONF", VAR_JSON, false, false, "{\"a\": [1, 2]}");
    set_override("build", "N", "prod", "8");
    json_t *p = plan("dev");
    assert_no_errors(p);
    cr_assert_eq(json_integer_value(json_object_get(pvar(p, "build", "N"), "value")), 7);
    cr_assert(json_is_true(json_object_get(pvar(p, "build", "FLAG"), "value")));
    json_t *want = parse("{\"a\": [1, 2]}");
    cr_assert(json_equal(json_object_get(pvar(p, "build", "CONF"), "value"), want));
    json_decref(want);
    json_decref(p);
    p = plan("prod");
    cr_assert_eq(json_integer_value(json_object_get(pvar(p, "build", "N"), "value")), 8);
    json_decref(p);
}

/* --- references that resolve ----------------------------------------------- */

Test(resolve, env_and_job_name) {
    set_default("build", "script", "deploy ${{ job.name }} to ${{ env.name }}");
    json_t *p = plan("dev");
    assert_no_errors(p);
    cr_assert_str_eq(pstr(p, "build", "script"), "deploy webapp to dev");
    json_decref(p);
    p = plan("prod");
    cr_assert_str_eq(pstr(p, "build", "script"), "deploy webapp to prod");
    json_decref(p);
}

Test(resolve, spaces_inside_braces) {
    assert_script("${{env.name}}|${{   env.name\t}}|${{ env.name}}", "dev|dev|dev");
}

Test(resolve, vars_chained) {
    add_str("build", "X", "x-${{ vars.Y }}-x");
    add_str("build", "Y", "y-${{ env.name }}");
    set_override("build", "Y", "prod", "\"P\"");
    set_default("build", "script", "echo ${{ vars.X }} ${{ vars.shell }}");
    json_t *p = plan("dev");
    assert_no_errors(p);
    cr_assert_str_eq(pstr(p, "build", "script"), "echo x-y-dev-x /bin/sh");
    cr_assert_str_eq(pstr(p, "build", "X"), "x-y-dev-x");
    cr_assert_str_eq(pstr(p, "build", "Y"), "y-dev");
    json_decref(p);
    /* The referenced variable's own override applies. */
    p = plan("prod");
    assert_no_errors(p);
    cr_assert_str_eq(pstr(p, "build", "script"), "echo x-P-x /bin/sh");
    cr_assert_str_eq(psource(p, "build", "script"), "default");
    json_decref(p);
}

Test(resolve, vars_of_other_types_are_inserted_as_json) {
    add_var("build", "N", VAR_INT, false, false, "7");
    add_var("build", "CONF", VAR_JSON, false, false, "{\"a\":1}");
    assert_script("n=${{ vars.N }} c=${{ vars.CONF }}", "n=7 c={\"a\":1}");
}

Test(resolve, dollar_escape) {
    assert_script("echo $${{ env.name }}", "echo ${{ env.name }}");
    assert_script("$${{ nonsense", "${{ nonsense");
    assert_script("a $$${{ x }} b", "a $${{ x }} b");
    assert_script("$${{ a }} ${{ env.name }} $${{ b }}", "${{ a }} dev ${{ b }}");
    assert_script("cost: $$5 {{ x }} $ {", "cost: $$5 {{ x }} $ {");
}

Test(resolve, escaped_text_of_a_referenced_var_is_not_expanded_again) {
    add_str("build", "LIT", "$${{ vars.NOPE }}");
    assert_script("[${{ vars.LIT }}]", "[${{ vars.NOPE }}]");
}

Test(resolve, run_time_references_stay_verbatim) {
    add_task("ship", "v=${{ tasks.build.outputs.version }} run=${{ run.id }}", true);
    json_t *p = plan("dev");
    assert_no_errors(p);
    cr_assert_str_eq(pstr(p, "ship", "script"),
                     "v=${{ tasks.build.outputs.version }} run=${{ run.id }}");
    json_decref(p);
}

Test(resolve, run_time_reference_in_an_int_is_not_checked_yet) {
    add_task("ship", "true", true);
    add_var("ship", "N", VAR_INT, false, false, "\"${{ tasks.build.outputs.count }}\"");
    json_t *p = plan("dev");
    assert_no_errors(p);
    cr_assert_str_eq(pstr(p, "ship", "N"), "${{ tasks.build.outputs.count }}");
    json_decref(p);
}

/* --- references that do not resolve ----------------------------------------- */

Test(resolve, later_task_is_an_error) {
    add_task("ship", "true", true);
    set_default("build", "script", "echo ${{ tasks.ship.outputs.k }}");
    assert_one_error("dev", "build", "script", "${{ tasks.ship.outputs.k }}");
}

Test(resolve, own_task_is_an_error) {
    set_default("build", "script", "echo ${{ tasks.build.outputs.k }}");
    assert_one_error("prod", "build", "script", "${{ tasks.build.outputs.k }}");
}

Test(resolve, unknown_task_is_an_error) {
    add_task("ship", "echo ${{ tasks.nope.outputs.k }}", true);
    assert_one_error("dev", "ship", "script", "'nope'");
    json_t *p = plan("dev");
    assert_error(p, 0, "ship", "script", "dev", "${{ tasks.nope.outputs.k }}");
    json_decref(p);
}

Test(resolve, malformed_task_reference_is_an_error) {
    add_task("ship", "echo ${{ tasks.build.k }}", true);
    assert_one_error("dev", "ship", "script", "${{ tasks.build.k }}");
}

Test(resolve, unknown_var_is_an_error) {
    set_default("build", "script", "echo ${{ vars.NOPE }}");
    assert_one_error("dev", "build", "script", "${{ vars.NOPE }}");
}

Test(resolve, var_of_another_task_is_unknown) {
    add_task("ship", "true", true);
    add_str("ship", "ONLY_SHIP", "x");
    set_default("build", "script", "echo ${{ vars.ONLY_SHIP }}");
    assert_one_error("dev", "build", "script", "ONLY_SHIP");
}

Test(resolve, var_without_value_is_an_error) {
    set_default("build", "script", "cd ${{ vars.workdir }}");
    assert_one_error("dev", "build", "script", "workdir");
    set_override("build", "workdir", "prod", "\"/srv\"");
    json_t *p = plan("prod");
    assert_no_errors(p);
    cr_assert_str_eq(pstr(p, "build", "script"), "cd /srv");
    json_decref(p);
}

Test(resolve, unknown_namespace_is_an_error) {
    set_default("build", "script", "echo ${{ secrets.TOKEN }}");
    assert_one_error("dev", "build", "script", "${{ secrets.TOKEN }}");
    set_default("build", "script", "echo ${{ }}");
    assert_one_error("dev", "build", "script", "${{ }}");
    set_default("build", "script", "echo ${{ env.nam }}");
    assert_one_error("dev", "build", "script", "${{ env.nam }}");
}

Test(resolve, unterminated_is_an_error) {
    set_default("build", "script", "echo ${{ env.name");
    assert_one_error("dev", "build", "script", "${{");
    set_default("build", "script", "echo ${{ env.name }} ${{ env.name } done");
    assert_one_error("dev", "build", "script", "${{");
}

Test(resolve, every_bad_reference_is_reported) {
    set_default("build", "script", "${{ vars.A1 }} ${{ env.name }} ${{ vars.A2 }}");
    json_t *p = plan("dev");
    cr_assert_eq(nerrors(p), 2);
    assert_error(p, 0, "build", "script", "dev", "A1");
    assert_error(p, 1, "build", "script", "dev", "A2");
    json_decref(p);
}

Test(resolve, reference_loop_is_an_error) {
    add_str("build", "A", "a${{ vars.B }}");
    add_str("build", "B", "b${{ vars.A }}");
    json_t *p = plan("dev");
    char *text = json_dumps(json_object_get(p, "errors"), JSON_INDENT(1));
    cr_assert_eq(nerrors(p), 2, "errors: %s", text);
    free(text);
    assert_error(p, 0, "build", "A", "dev", "loop");
    assert_error(p, 0, "build", "A", "dev", "${{ vars.A }}");
    assert_error(p, 0, "build", "A", "dev", "A -> B -> A");
    assert_error(p, 1, "build", "B", "dev", "loop");
    assert_error(p, 1, "build", "B", "dev", "B -> A -> B");
    json_decref(p);
}

Test(resolve, self_reference_is_a_loop) {
    add_str("build", "A", "${{ vars.A }}");
    assert_one_error("dev", "build", "A", "loop");
}

Test(resolve, reference_loop_is_reported_once) {
    /* Each variable refers twice to the other: still one error each, and
     * the work does not grow exponentially with the depth. */
    add_str("build", "A", "${{ vars.B }}${{ vars.B }}");
    add_str("build", "B", "${{ vars.A }}${{ vars.A }}");
    json_t *p = plan("dev");
    cr_assert_eq(nerrors(p), 2, "errors: %zu", nerrors(p));
    assert_error(p, 0, "build", "A", "dev", "loop");
    assert_error(p, 1, "build", "B", "dev", "loop");
    json_decref(p);
}

Test(resolve, a_long_chain_is_not_a_loop) {
    /* V0 -> V1 -> ... -> V11: deep but finite. */
    char name[16], ref[32];
    for (int i = 0; i < 12; i++) {
        snprintf(name, sizeof(name), "V%d", i);
        if (i < 11)
            snprintf(ref, sizeof(ref), "${{ vars.V%d }}", i + 1);
        else
            snprintf(ref, sizeof(ref), "end");
        add_str("build", name, ref);
    }
    json_t *p = plan("dev");
    assert_no_errors(p);
    cr_assert_str_eq(pstr(p, "build", "V0"), "end");
    json_decref(p);
}

Test(resolve, a_chain_too_deep_is_an_error_but_not_a_loop) {
    /* V0 -> ... -> V19: more than 16 levels for the first ones. */
    char name[16], ref[32];
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof(name), "V%d", i);
        if (i < 19)
            snprintf(ref, sizeof(ref), "${{ vars.V%d }}", i + 1);
        else
            snprintf(ref, sizeof(ref), "end");
        add_str("build", name, ref);
    }
    json_t *p = plan("dev");
    cr_assert_gt(nerrors(p), 0);
    assert_error(p, 0, "build", "V0", "dev", "deep");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(p, "errors"), i, e)
        cr_assert_null(strstr(json_string_value(json_object_get(e, "message")), "loop"));
    cr_assert_str_eq(pstr(p, "build", "V10"), "end");
    json_decref(p);
}

Test(resolve, a_shared_reference_is_not_a_loop) {
    /* A diamond: X uses Y twice and Z, Z uses Y. */
    add_str("build", "Y", "y");
    add_str("build", "Z", "z${{ vars.Y }}");
    add_str("build", "X", "${{ vars.Y }}${{ vars.Z }}${{ vars.Y }}");
    json_t *p = plan("dev");
    assert_no_errors(p);
    cr_assert_str_eq(pstr(p, "build", "X"), "yzyy");
    json_decref(p);
}

/* --- required values and disabled tasks ------------------------------------ */

Test(resolve, required_without_value_is_an_error) {
    add_task("ship", NULL, true);
    assert_one_error("dev", "ship", "script", "required");
    json_t *p = plan("dev");
    cr_assert_str_eq(psource(p, "ship", "script"), "unset");
    cr_assert(json_is_null(json_object_get(pvar(p, "ship", "script"), "value")));
    json_decref(p);
    /* An override for prod only fixes prod. */
    set_override("ship", "script", "prod", "\"./ship.sh\"");
    p = plan("prod");
    assert_no_errors(p);
    json_decref(p);
    assert_one_error("dev", "ship", "script", "required");
}

Test(resolve, required_custom_var_without_value_is_an_error) {
    add_var("build", "API_URL", VAR_STRING, false, true, NULL);
    assert_one_error("prod", "build", "API_URL", "required");
}

Test(resolve, disabled_task_problems_are_not_errors) {
    add_task("off", NULL, false); /* required script unset */
    add_str("off", "BAD", "${{ vars.NOPE }} ${{ tasks.zzz.outputs.k }} ${{ oops");
    json_t *p = plan("dev");
    assert_no_errors(p);
    json_t *t = json_array_get(json_object_get(p, "tasks"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(t, "name")), "off");
    cr_assert(json_is_false(json_object_get(t, "enabled")));
    json_decref(p);
    /* The same problems in an enabled task are errors. */
    add_task("on", NULL, true);
    add_str("on", "BAD", "${{ vars.NOPE }}");
    p = plan("dev");
    cr_assert_eq(nerrors(p), 2);
    assert_error(p, 0, "on", "script", "dev", "required");
    assert_error(p, 1, "on", "BAD", "dev", "NOPE");
    json_decref(p);
}

/* --- typed values from references ----------------------------------------- */

Test(resolve, int_from_reference_becomes_an_integer) {
    add_str("build", "N", "42");
    add_var("build", "COUNT", VAR_INT, false, false, "\"${{ vars.N }}\"");
    json_t *p = plan("dev");
    assert_no_errors(p);
    json_t *v = json_object_get(pvar(p, "build", "COUNT"), "value");
    cr_assert(json_is_integer(v), "COUNT is not an integer");
    cr_assert_eq(json_integer_value(v), 42);
    json_decref(p);
}

Test(resolve, int_from_bad_reference_is_an_error) {
    add_str("build", "N", "42");
    add_var("build", "COUNT", VAR_INT, false, false, "\"${{ vars.N }}\"");
    set_override("build", "N", "prod", "\"abc\"");
    assert_one_error("prod", "build", "COUNT", "abc");
    json_t *p = plan("prod");
    assert_error(p, 0, "build", "COUNT", "prod", "int");
    json_decref(p);
    p = plan("dev");
    assert_no_errors(p);
    json_decref(p);
}

Test(resolve, bool_and_enum_from_references) {
    add_str("build", "B", "true");
    add_str("build", "COLOR", "blue");
    add_var("build", "FLAG", VAR_BOOL, false, false, "\"${{ vars.B }}\"");
    struct task t = get_task("build");
    struct var e = {.name = strdup("DEPLOY"),
                    .type = VAR_ENUM,
                    .description = strdup(""),
                    .values = parse("[\"blue\", \"green\"]"),
                    .value = json_string("${{ vars.COLOR }}")};
    OK(model_var_create(s, &t, &e, &err));
    var_cleanup(&e);
    task_cleanup(&t);
    json_t *p = plan("dev");
    assert_no_errors(p);
    cr_assert(json_is_true(json_object_get(pvar(p, "build", "FLAG"), "value")));
    cr_assert_str_eq(pstr(p, "build", "DEPLOY"), "blue");
    json_decref(p);

    set_override("build", "B", "prod", "\"yes\"");
    set_override("build", "COLOR", "prod", "\"red\"");
    p = plan("prod");
    cr_assert_eq(nerrors(p), 2);
    assert_error(p, 0, "build", "FLAG", "prod", "yes");
    assert_error(p, 1, "build", "DEPLOY", "prod", "red");
    json_decref(p);
}

/* --- secrets ----------------------------------------------------------- */

static void assert_masked(json_t *p, const char *task, const char *var, bool set,
                          const char *source) {
    json_t *v = pvar(p, task, var);
    char *text = json_dumps(v, JSON_COMPACT);
    cr_assert(json_is_true(json_object_get(v, "secret")), "%s: %s", var, text);
    cr_assert_eq(json_is_true(json_object_get(v, "set")), set, "%s: %s", var, text);
    cr_assert_str_eq(json_string_value(json_object_get(v, "source")), source, "%s", text);
    cr_assert_null(json_object_get(v, "value"), "%s: %s", var, text);
    free(text);
}

Test(resolve, secret_is_masked_in_the_plan) {
    add_var("build", "TOKEN", VAR_STRING, true, false, "\"" SECRET "\"");
    add_var("build", "UNSET", VAR_STRING, true, false, NULL);
    set_override("build", "TOKEN", "prod", "\"prod-" SECRET "\"");
    json_t *p = plan("dev");
    assert_no_errors(p);
    assert_masked(p, "build", "TOKEN", true, "default");
    assert_masked(p, "build", "UNSET", false, "unset");
    json_decref(p);
    p = plan("prod");
    assert_masked(p, "build", "TOKEN", true, "override");
    json_decref(p);
}

Test(resolve, reference_to_a_secret_is_masked) {
    add_var("build", "TOKEN", VAR_STRING, true, false, "\"" SECRET "\"");
    add_str("build", "URL", "https://example.org/?t=${{ vars.TOKEN }}");
    add_str("build", "VIA", "${{ vars.URL }}"); /* through another variable */
    add_str("build", "PLAIN", "https://example.org/");
    set_default("build", "script", "curl ${{ vars.VIA }}");
    json_t *p = plan("dev");
    assert_no_errors(p);
    assert_masked(p, "build", "URL", true, "default");
    assert_masked(p, "build", "VIA", true, "default");
    assert_masked(p, "build", "script", true, "default");
    cr_assert_str_eq(pstr(p, "build", "PLAIN"), "https://example.org/");
    cr_assert_str_eq(pstr(p, "build", "shell"), "/bin/sh");
    json_decref(p);
}

Test(resolve, secret_never_in_error_messages) {
    add_var("build", "PIN", VAR_STRING, true, false, "\"" SECRET "\"");
    add_var("build", "N", VAR_INT, false, false, "\"${{ vars.PIN }}\"");
    /* plan() fails if the secret text shows up anywhere. */
    assert_one_error("dev", "build", "N", "int");
    add_var("build", "ALSO", VAR_INT, true, false, "\"" SECRET "${{ env.name }}\"");
    json_t *p = plan("dev");
    cr_assert_eq(nerrors(p), 2);
    assert_error(p, 1, "build", "ALSO", "dev", "int");
    json_decref(p);
}

Test(resolve, secret_is_masked_in_the_workflow) {
    add_var("build", "TOKEN", VAR_STRING, true, false, "\"" SECRET "\"");
    set_override("build", "TOKEN", "prod", "\"prod-" SECRET "\"");
    json_t *w = workflow();
    json_t *vars = json_object_get(json_array_get(json_object_get(w, "tasks"), 0), "variables");
    json_t *tok = json_array_get(vars, 3);
    cr_assert_str_eq(json_string_value(json_object_get(tok, "name")), "TOKEN");
    cr_assert(json_is_true(json_object_get(tok, "secret")));
    json_t *want = parse("{\"secret\": true, \"set\": true}");
    cr_assert(json_equal(json_object_get(tok, "value"), want));
    cr_assert(json_equal(json_object_get(json_object_get(tok, "overrides"), "prod"), want));
    json_t *eff = json_object_get(tok, "effective");
    cr_assert(json_equal(json_object_get(json_object_get(eff, "dev"), "value"), want));
    cr_assert(json_equal(json_object_get(json_object_get(eff, "prod"), "value"), want));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(eff, "prod"), "source")),
                     "override");
    json_decref(want);
    json_decref(w);
}

/* --- the workflow ------------------------------------------------------- */

Test(resolve, workflow_matrix) {
    add_task("ship", NULL, true);
    set_override("build", "script", "prod", "\"make release\"");
    json_t *w = workflow();
    cr_assert_str_eq(json_string_value(json_object_get(w, "job")), "webapp");
    json_t *envs = json_object_get(w, "environments");
    cr_assert_eq(json_array_size(envs), 2);
    cr_assert_str_eq(json_string_value(json_array_get(envs, 0)), "dev");
    cr_assert_str_eq(json_string_value(json_array_get(envs, 1)), "prod");
    json_t *tasks = json_object_get(w, "tasks");
    cr_assert_eq(json_array_size(tasks), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tasks, 1), "name")), "ship");

    json_t *vars = json_object_get(json_array_get(tasks, 0), "variables");
    cr_assert_eq(json_array_size(vars), 3);
    json_t *script = json_array_get(vars, 0);
    cr_assert_str_eq(json_string_value(json_object_get(script, "name")), "script");
    cr_assert_str_eq(json_string_value(json_object_get(script, "type")), "text");
    cr_assert(json_is_true(json_object_get(script, "required")));
    cr_assert(json_is_false(json_object_get(script, "secret")));
    cr_assert_str_eq(json_string_value(json_object_get(script, "value")), "true");
    json_t *ovs = json_object_get(script, "overrides");
    cr_assert_eq(json_object_size(ovs), 1);
    cr_assert_str_eq(json_string_value(json_object_get(ovs, "prod")), "make release");
    json_t *eff = json_object_get(script, "effective");
    json_t *dev = json_object_get(eff, "dev"), *prod = json_object_get(eff, "prod");
    cr_assert_str_eq(json_string_value(json_object_get(dev, "value")), "true");
    cr_assert_str_eq(json_string_value(json_object_get(dev, "source")), "default");
    cr_assert_str_eq(json_string_value(json_object_get(prod, "value")), "make release");
    cr_assert_str_eq(json_string_value(json_object_get(prod, "source")), "override");

    json_t *workdir = json_array_get(vars, 2);
    cr_assert_str_eq(json_string_value(json_object_get(workdir, "name")), "workdir");
    cr_assert(json_is_null(json_object_get(workdir, "value")));
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(workdir, "effective"), "dev"), "source")),
                     "unset");

    /* ship's script is required and unset: the matrix shows it missing. */
    json_t *sv = json_array_get(json_object_get(json_array_get(tasks, 1), "variables"), 0);
    json_t *sdev = json_object_get(json_object_get(sv, "effective"), "dev");
    cr_assert(json_is_null(json_object_get(sdev, "value")));
    cr_assert(json_is_true(json_object_get(sdev, "missing")));
    json_decref(w);
}

Test(resolve, view_of_unknown_job_is_not_found) {
    struct job_view v;
    dmt_err_cleanup(&err);
    cr_assert_eq(job_view_load(s, "nope", &v, &err), DMT_ERR_NOT_FOUND);
    job_view_cleanup(&v);
}
