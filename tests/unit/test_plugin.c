/* test_plugin.c - the plugin registry (both loaders, strict schema checks),
 * plugin_command and the plugin-host child. Runs from the repo root; the
 * shared-object tests need `make build/asan/dmt` and
 * `make -f plugins/Makefile plugins` first, and fail (never skip) without. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model/model.h"
#include "plugin/plugin.h"

static char tmp[64];

static void setup(void) {
    snprintf(tmp, sizeof(tmp), "/tmp/dmt-test-plugin-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
}

static void teardown(void) {
    plugin_registry_cleanup();
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    if (tmp[0] != '\0' && system(cmd) != 0) cr_log_warn("cannot remove %s", tmp);
}

static void write_file(const char *path, const char *text, mode_t mode) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(path, mode), 0);
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The registry entry of that name, loaded or not (the first one). */
static const struct plugin *entry(const char *name) {
    for (size_t i = 0; i < plugin_count(); i++)
        if (strcmp(plugin_at(i)->name, name) == 0) return plugin_at(i);
    return NULL;
}

static const struct plugin_var *var_of(const struct plugin *p, const char *name) {
    for (size_t i = 0; i < p->nvars; i++)
        if (strcmp(p->vars[i].name, name) == 0) return &p->vars[i];
    return NULL;
}

/* Makes TMP/plugins/p holding plugin.json (json) and run.sh (mode), loads
 * the registry from TMP/plugins and returns the error of the one plugin
 * found (NULL if it loaded). */
static const char *load_one(const char *json, mode_t run_mode) {
    char dir[PATH_MAX], path[PATH_MAX + 32];
    snprintf(dir, sizeof(dir), "%s/plugins", tmp);
    mkdir(dir, 0755);
    snprintf(path, sizeof(path), "%s/p", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/p/plugin.json", dir);
    write_file(path, json, 0644);
    snprintf(path, sizeof(path), "%s/p/run.sh", dir);
    write_file(path, "#!/bin/sh\nexit 0\n", run_mode);
    const char *dirs[] = {dir, NULL};
    plugin_registry_init(dirs, NULL);
    cr_assert_eq(plugin_count(), 2, "expected shell and one plugin, got %zu", plugin_count());
    return plugin_at(1)->error;
}

/* --- the built-ins and the test plugins ----------------------------------- */

Test(registry, builtins_only, .init = setup, .fini = teardown) {
    plugin_registry_init(NULL, NULL);
    cr_assert_eq(plugin_count(), 1);
    const struct plugin *sh = plugin_find("shell");
    cr_assert_not_null(sh);
    cr_assert_str_eq(sh->kind, "builtin");
    cr_assert(sh->export_plain);
    cr_assert_null(sh->path);
    const struct plugin_var *v = var_of(sh, "shell");
    cr_assert_not_null(v);
    cr_assert_str_eq(json_string_value(v->default_value), "/bin/sh");
    cr_assert(var_of(sh, "script")->required);
    /* A second init is a no-op. */
    plugin_registry_init(NULL, NULL);
    cr_assert_eq(plugin_count(), 1);
}

Test(registry, loads_test_plugins, .init = setup, .fini = teardown) {
    const char *dirs[] = {"tests/plugins", NULL};
    plugin_registry_init(dirs, NULL);
    /* shell, broken, crasher, echoer; sotest/ has no plugin.json. */
    cr_assert_eq(plugin_count(), 4, "got %zu plugins", plugin_count());

    const struct plugin *e = plugin_find("echoer");
    cr_assert_not_null(e);
    cr_assert_null(e->error);
    cr_assert_str_eq(e->kind, "executable");
    cr_assert_str_eq(e->version, "1.0.0");
    cr_assert(!e->export_plain);
    cr_assert_eq(e->path[0], '/');
    cr_assert(ends_with(e->path, "/tests/plugins/echoer"), "path %s", e->path);
    cr_assert_eq(e->run[0], '/');
    cr_assert(ends_with(e->run, "/tests/plugins/echoer/run.sh"), "run %s", e->run);
    cr_assert_eq(e->nvars, 4);
    const struct plugin_var *v = &e->vars[0];
    cr_assert_str_eq(v->name, "message");
    cr_assert_eq(v->type, VAR_STRING);
    cr_assert(v->required);
    cr_assert_null(v->default_value);
    v = var_of(e, "count");
    cr_assert_eq(v->type, VAR_INT);
    cr_assert_eq(json_integer_value(v->default_value), 1);
    v = var_of(e, "mode");
    cr_assert_eq(v->type, VAR_ENUM);
    cr_assert_eq(json_array_size(v->values), 2);
    cr_assert_str_eq(json_string_value(v->default_value), "plain");
    v = var_of(e, "token");
    cr_assert(v->secret);
    cr_assert(!v->required);

    cr_assert_null(plugin_find("broken"));
    const struct plugin *b = entry("broken");
    cr_assert_not_null(b, "a plugin that fails to load stays in the registry");
    cr_assert_str_eq(b->error, "plugin.json: variables[2].type: unknown type 'float'");
    cr_assert_str_eq(b->kind, "executable");
    cr_assert_eq(b->nvars, 0);
    cr_assert_null(b->run);

    cr_assert_not_null(plugin_find("crasher"));
    cr_assert_not_null(plugin_find("shell"));
}

Test(registry, duplicate_name_fails_the_later, .init = setup, .fini = teardown) {
    const char *dirs[] = {"tests/plugins", "tests/plugins", NULL};
    plugin_registry_init(dirs, NULL);
    cr_assert_eq(plugin_count(), 7);
    const struct plugin *first = plugin_find("echoer");
    cr_assert_not_null(first);
    cr_assert_null(first->error);
    size_t n = 0;
    for (size_t i = 0; i < plugin_count(); i++) {
        const struct plugin *p = plugin_at(i);
        if (strcmp(p->name, "echoer") != 0) continue;
        if (n++ == 0) {
            cr_assert_eq(p, first);
        } else {
            cr_assert_not_null(p->error);
            cr_assert(strstr(p->error, "name 'echoer' is already taken by ") != NULL, "%s",
                      p->error);
        }
    }
    cr_assert_eq(n, 2);
}

Test(registry, name_of_a_builtin_is_taken, .init = setup, .fini = teardown) {
    const char *err =
        load_one("{\"name\": \"shell\", \"version\": \"1\", \"run\": \"run.sh\"}", 0755);
    cr_assert_str_eq(err, "name 'shell' is already taken by a built-in plugin");
    cr_assert_str_eq(plugin_find("shell")->kind, "builtin");
}

Test(registry, missing_folder_is_skipped, .init = setup, .fini = teardown) {
    const char *dirs[] = {"/nonexistent/dmt-plugins", "tests/plugins", NULL};
    plugin_registry_init(dirs, NULL);
    cr_assert_not_null(plugin_find("echoer"));
}

Test(registry, minimal_plugin_json, .init = setup, .fini = teardown) {
    cr_assert_null(load_one("{\"name\": \"mini\", \"version\": \"0\", \"run\": \"run.sh\"}", 0755));
    const struct plugin *p = plugin_find("mini");
    cr_assert_not_null(p);
    cr_assert_str_eq(p->summary, "");
    cr_assert_eq(p->nvars, 0);
}

/* --- strict validation of plugin.json ------------------------------------- */

struct bad_case {
    const char *json;
    mode_t mode;
    const char *error; /* exact, or a prefix when ending in '*' */
};

static void check_case(const struct bad_case *c) {
    const char *err = load_one(c->json, c->mode);
    cr_assert_not_null(err, "should fail: %s", c->json);
    size_t n = strlen(c->error);
    if (c->error[n - 1] == '*')
        cr_assert(strncmp(err, c->error, n - 1) == 0, "got \"%s\", want \"%s\"", err, c->error);
    else
        cr_assert_str_eq(err, c->error);
    cr_assert_null(plugin_find(plugin_at(1)->name));
}

#define HEAD       "{\"name\": \"p\", \"version\": \"1\", \"run\": \"run.sh\", "
#define VAR1(body) HEAD "\"variables\": [" body "]}"

Test(validate, bad_plugin_json_is_an_error, .init = setup, .fini = teardown) {
    static const struct bad_case cases[] = {
        {"{", 0755, "plugin.json: line 1: *"},
        {"[]", 0755, "plugin.json: must be a JSON object"},
        {HEAD "\"extra\": 1}", 0755, "plugin.json: unknown key 'extra'"},
        {"{\"version\": \"1\", \"run\": \"run.sh\"}", 0755, "plugin.json: name: missing"},
        {"{\"name\": \"Bad Name\", \"version\": \"1\", \"run\": \"run.sh\"}", 0755,
         "plugin.json: name: 'Bad Name' is not a plugin name *"},
        {"{\"name\": \"p\", \"run\": \"run.sh\"}", 0755, "plugin.json: version: missing"},
        {"{\"name\": \"p\", \"version\": 1, \"run\": \"run.sh\"}", 0755,
         "plugin.json: version: must be a string"},
        {"{\"name\": \"p\", \"version\": \"1\", \"summary\": [], \"run\": \"run.sh\"}", 0755,
         "plugin.json: summary: must be a string"},
        {"{\"name\": \"p\", \"version\": \"1\"}", 0755, "plugin.json: run: missing"},
        {"{\"name\": \"p\", \"version\": \"1\", \"run\": \"../p/run.sh\"}", 0755,
         "plugin.json: run: '../p/run.sh' must not contain '..'"},
        {"{\"name\": \"p\", \"version\": \"1\", \"run\": \"x/../run.sh\"}", 0755,
         "plugin.json: run: 'x/../run.sh' must not contain '..'"},
        {"{\"name\": \"p\", \"version\": \"1\", \"run\": \"/bin/true\"}", 0755,
         "plugin.json: run: '/bin/true' must be a relative path inside the plugin folder"},
        {"{\"name\": \"p\", \"version\": \"1\", \"run\": \"nope.sh\"}", 0755,
         "plugin.json: run: 'nope.sh': No such file or directory"},
        {"{\"name\": \"p\", \"version\": \"1\", \"run\": \".\"}", 0755,
         "plugin.json: run: '.' is not a regular file"},
        {HEAD "\"variables\": []}", 0644, "plugin.json: run: 'run.sh' is not executable"},
        {HEAD "\"variables\": {}}", 0755, "plugin.json: variables: must be an array"},
        {VAR1("1"), 0755, "plugin.json: variables[0]: must be an object"},
        {VAR1("{\"name\": \"a\", \"type\": \"string\", \"color\": 1}"), 0755,
         "plugin.json: variables[0]: unknown key 'color'"},
        {VAR1("{\"type\": \"string\"}"), 0755, "plugin.json: variables[0].name: missing"},
        {VAR1("{\"name\": \"1a\", \"type\": \"string\"}"), 0755,
         "plugin.json: variables[0].name: '1a' is not a variable name *"},
        {VAR1("{\"name\": \"a\"}"), 0755, "plugin.json: variables[0].type: missing"},
        {VAR1("{\"name\": \"a\", \"type\": \"string\"}, {\"name\": \"b\", \"type\": \"float\"}"),
         0755, "plugin.json: variables[1].type: unknown type 'float'"},
        {VAR1("{\"name\": \"a\", \"type\": \"string\", \"required\": \"yes\"}"), 0755,
         "plugin.json: variables[0].required: must be true or false"},
        {VAR1("{\"name\": \"a\", \"type\": \"string\", \"secret\": 1}"), 0755,
         "plugin.json: variables[0].secret: must be true or false"},
        {VAR1("{\"name\": \"a\", \"type\": \"string\", \"description\": 1}"), 0755,
         "plugin.json: variables[0].description: must be a string"},
        {VAR1("{\"name\": \"a\", \"type\": \"enum\"}"), 0755,
         "plugin.json: variables[0].values: required for type enum"},
        {VAR1("{\"name\": \"a\", \"type\": \"enum\", \"values\": []}"), 0755,
         "plugin.json: variables[0].values: must be a non-empty array of strings"},
        {VAR1("{\"name\": \"a\", \"type\": \"enum\", \"values\": [\"x\", 2]}"), 0755,
         "plugin.json: variables[0].values[1]: must be a string"},
        {VAR1("{\"name\": \"a\", \"type\": \"enum\", \"values\": [\"x\", \"x\"]}"), 0755,
         "plugin.json: variables[0].values[1]: 'x' is listed twice"},
        {VAR1("{\"name\": \"a\", \"type\": \"string\", \"values\": [\"x\"]}"), 0755,
         "plugin.json: variables[0].values: only for type enum"},
        {VAR1("{\"name\": \"a\", \"type\": \"int\", \"default\": \"x\"}"), 0755,
         "plugin.json: variables[0].default: must be an integer (a is of type int)"},
        {VAR1("{\"name\": \"a\", \"type\": \"bool\", \"default\": 0}"), 0755,
         "plugin.json: variables[0].default: must be true or false (a is of type bool)"},
        {VAR1("{\"name\": \"a\", \"type\": \"enum\", \"values\": [\"x\"], \"default\": \"y\"}"),
         0755, "plugin.json: variables[0].default: must be one of [\"x\"]"},
        {VAR1("{\"name\": \"a\", \"type\": \"string\"}, {\"name\": \"a\", \"type\": \"int\"}"),
         0755, "plugin.json: variables[1].name: 'a' is declared twice"},
        {"{\"name\": \"p\", \"name\": \"q\", \"version\": \"1\", \"run\": \"run.sh\"}", 0755,
         "plugin.json: line 1: duplicate object key*"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_case(&cases[i]);
        plugin_registry_cleanup();
    }
}

Test(validate, bad_name_is_reported_under_the_folder, .init = setup, .fini = teardown) {
    load_one("{\"name\": \"Bad\", \"version\": \"1\", \"run\": \"run.sh\"}", 0755);
    cr_assert_str_eq(plugin_at(1)->name, "p");
}

Test(validate, run_must_not_leave_the_folder_by_a_link, .init = setup, .fini = teardown) {
    char dir[PATH_MAX], link[PATH_MAX + 32];
    snprintf(dir, sizeof(dir), "%s/plugins", tmp);
    mkdir(dir, 0755);
    snprintf(link, sizeof(link), "%s/p", dir);
    mkdir(link, 0755);
    snprintf(link, sizeof(link), "%s/p/plugin.json", dir);
    write_file(link, HEAD "\"variables\": []}", 0644);
    snprintf(link, sizeof(link), "%s/p/run.sh", dir);
    cr_assert_eq(symlink("/bin/true", link), 0);
    const char *dirs[] = {dir, NULL};
    plugin_registry_init(dirs, NULL);
    cr_assert_str_eq(plugin_at(1)->error,
                     "plugin.json: run: 'run.sh' leads outside the plugin folder");
}

Test(validate, defaults_of_every_type, .init = setup, .fini = teardown) {
    cr_assert_null(load_one(VAR1("{\"name\": \"s\", \"type\": \"string\", \"default\": \"x\"},"
                                 "{\"name\": \"t\", \"type\": \"text\", \"default\": \"a\\nb\"},"
                                 "{\"name\": \"i\", \"type\": \"int\", \"default\": -3},"
                                 "{\"name\": \"b\", \"type\": \"bool\", \"default\": true},"
                                 "{\"name\": \"j\", \"type\": \"json\", \"default\": {\"k\": [1]}},"
                                 "{\"name\": \"n\", \"type\": \"int\", \"default\": null}"),
                            0755));
    const struct plugin *p = plugin_find("p");
    cr_assert_eq(p->nvars, 6);
    cr_assert_eq(json_integer_value(var_of(p, "i")->default_value), -3);
    cr_assert(json_is_true(var_of(p, "b")->default_value));
    cr_assert(json_is_object(var_of(p, "j")->default_value));
    cr_assert_null(var_of(p, "n")->default_value, "a null default means no default");
}

/* --- plugin_command --------------------------------------------------------- */

Test(command, shell_writes_the_script_0600, .init = setup, .fini = teardown) {
    plugin_registry_init(NULL, NULL);
    const struct plugin *sh = plugin_find("shell");
    json_t *values = json_pack("{s:s, s:s}", "script", "echo hi\n", "GREETING", "x");
    char **argv = NULL;
    struct dmt_err err;
    dmt_err_init(&err);
    cr_assert_eq(plugin_command(sh, values, tmp, &argv, &err), DMT_OK, "%s", err.msg);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/script", tmp);
    cr_assert_str_eq(argv[0], "/bin/sh");
    cr_assert_str_eq(argv[1], path);
    cr_assert_null(argv[2]);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
    cr_assert_str_eq(read_file(path), "echo hi\n");
    plugin_argv_free(argv);

    /* A retry in the same folder replaces the script; shell is honoured. */
    json_object_set_new(values, "script", json_string("echo again\n"));
    json_object_set_new(values, "shell", json_string("/bin/bash"));
    cr_assert_eq(plugin_command(sh, values, tmp, &argv, &err), DMT_OK, "%s", err.msg);
    cr_assert_str_eq(argv[0], "/bin/bash");
    cr_assert_str_eq(read_file(path), "echo again\n");
    plugin_argv_free(argv);
    json_decref(values);
    dmt_err_cleanup(&err);
}

Test(command, shell_never_writes_through_a_planted_link, .init = setup, .fini = teardown) {
    plugin_registry_init(NULL, NULL);
    char target[PATH_MAX + 16], path[PATH_MAX + 16];
    snprintf(target, sizeof(target), "%s/victim", tmp);
    snprintf(path, sizeof(path), "%s/script", tmp);
    write_file(target, "untouched", 0644);
    cr_assert_eq(symlink(target, path), 0);
    json_t *values = json_pack("{s:s}", "script", "evil");
    char **argv = NULL;
    struct dmt_err err;
    dmt_err_init(&err);
    cr_assert_eq(plugin_command(plugin_find("shell"), values, tmp, &argv, &err), DMT_OK);
    cr_assert_str_eq(read_file(target), "untouched");
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0);
    cr_assert(S_ISREG(st.st_mode));
    plugin_argv_free(argv);
    json_decref(values);
    dmt_err_cleanup(&err);
}

Test(command, shell_rejects_bad_values, .init = setup, .fini = teardown) {
    plugin_registry_init(NULL, NULL);
    const struct plugin *sh = plugin_find("shell");
    const char *docs[] = {"{}", "{\"script\": 3}", "{\"script\": null}",
                          "{\"script\": \"x\", \"shell\": 1}",
                          "{\"script\": \"x\", \"shell\": \"\"}"};
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_t *values = json_loads(docs[i], 0, NULL);
        char **argv = (char **)1;
        struct dmt_err err;
        dmt_err_init(&err);
        cr_assert_eq(plugin_command(sh, values, tmp, &argv, &err), DMT_ERR_INVALID, "%s", docs[i]);
        cr_assert_null(argv);
        cr_assert_neq(err.msg[0], '\0');
        dmt_err_cleanup(&err);
        json_decref(values);
    }
    /* The shell defaults to /bin/sh when absent or null. */
    json_t *values = json_pack("{s:s, s:n}", "script", "true", "shell");
    char **argv = NULL;
    cr_assert_eq(plugin_command(sh, values, tmp, &argv, NULL), DMT_OK);
    cr_assert_str_eq(argv[0], "/bin/sh");
    plugin_argv_free(argv);
    json_decref(values);
    plugin_argv_free(NULL);
}

Test(command, shell_reports_an_unwritable_folder, .init = setup, .fini = teardown) {
    plugin_registry_init(NULL, NULL);
    json_t *values = json_pack("{s:s}", "script", "true");
    char **argv = NULL;
    struct dmt_err err;
    dmt_err_init(&err);
    cr_assert_eq(plugin_command(plugin_find("shell"), values, "/nonexistent/dir", &argv, &err),
                 DMT_ERR_IO);
    cr_assert_null(argv);
    cr_assert(strstr(err.msg, "/nonexistent/dir/script") != NULL, "%s", err.msg);
    json_decref(values);
    dmt_err_cleanup(&err);
}

Test(command, executable_is_its_run_path, .init = setup, .fini = teardown) {
    const char *dirs[] = {"tests/plugins", NULL};
    plugin_registry_init(dirs, NULL);
    const struct plugin *e = plugin_find("echoer");
    json_t *values = json_pack("{s:s, s:s}", "message", "m", "token", "s3cret");
    char **argv = NULL;
    cr_assert_eq(plugin_command(e, values, tmp, &argv, NULL), DMT_OK);
    cr_assert_str_eq(argv[0], e->run);
    cr_assert_null(argv[1], "no value ever on argv");
    plugin_argv_free(argv);

    struct dmt_err err;
    dmt_err_init(&err);
    cr_assert_eq(plugin_command(entry("broken"), values, tmp, &argv, &err), DMT_ERR_INVALID);
    cr_assert_null(argv);
    dmt_err_cleanup(&err);
    json_decref(values);
}

/* --- shared objects (need build/asan/dmt and build/test-plugins/sotest.so) -- */

static char *need_dmt(void) {
    char *exe = realpath("build/asan/dmt", NULL);
    cr_assert_not_null(exe, "build/asan/dmt is missing: run `make build/asan/dmt` first");
    cr_assert_eq(access("build/test-plugins/sotest.so", R_OK), 0,
                 "build/test-plugins/sotest.so is missing: run `make -f plugins/Makefile "
                 "plugins` first");
    return exe;
}

Test(shared, describe_loads_the_schema, .init = setup, .fini = teardown) {
    char *exe = need_dmt();
    const char *dirs[] = {"build/test-plugins", NULL};
    plugin_registry_init(dirs, exe);
    const struct plugin *p = entry("sotest");
    cr_assert_not_null(p);
    cr_assert_null(p->error, "%s", p->error);
    cr_assert_eq(plugin_find("sotest"), p);
    cr_assert_str_eq(p->kind, "shared");
    cr_assert_str_eq(p->version, "0.1.0");
    cr_assert(ends_with(p->path, "/build/test-plugins/sotest.so"), "%s", p->path);
    cr_assert_eq(p->path[0], '/');
    cr_assert_null(p->run);
    cr_assert_eq(p->nvars, 3);
    cr_assert_str_eq(p->vars[0].name, "value");
    cr_assert_eq(p->vars[0].type, VAR_STRING);
    cr_assert(p->vars[0].required);
    cr_assert_eq(p->vars[1].type, VAR_BOOL);
    cr_assert(json_is_false(p->vars[1].default_value));
    cr_assert(p->vars[2].secret);

    char **argv = NULL;
    json_t *values = json_object();
    cr_assert_eq(plugin_command(p, values, tmp, &argv, NULL), DMT_OK);
    cr_assert_str_eq(argv[0], exe);
    cr_assert_str_eq(argv[1], "plugin-host");
    cr_assert_str_eq(argv[2], p->path);
    cr_assert_null(argv[3]);
    plugin_argv_free(argv);
    json_decref(values);
    free(exe);
}

/* Runs `exe plugin-host so` with values on stdin and DMT_OUTPUT=TMP/out;
 * returns the exit status. */
static int host_run(const char *exe, const char *so, const char *values) {
    char in[PATH_MAX + 16], cmd[4 * PATH_MAX];
    snprintf(in, sizeof(in), "%s/values.json", tmp);
    write_file(in, values, 0600);
    snprintf(cmd, sizeof(cmd),
             "env -i PATH=/usr/bin:/bin DMT_OUTPUT='%s/out' '%s' plugin-host '%s' <'%s' "
             ">'%s/stdout' 2>'%s/stderr'",
             tmp, exe, so, in, tmp, tmp);
    int st = system(cmd);
    cr_assert(WIFEXITED(st), "plugin-host did not exit normally");
    return WEXITSTATUS(st);
}

Test(shared, host_runs_the_plugin, .init = setup, .fini = teardown) {
    char *exe = need_dmt();
    char out[PATH_MAX + 16], path[PATH_MAX + 16];
    snprintf(out, sizeof(out), "%s/out", tmp);

    cr_assert_eq(host_run(exe, "build/test-plugins/sotest.so", "{\"value\": \"hello world\"}"), 0);
    cr_assert_str_eq(read_file(out), "echo=hello world\n");
    snprintf(path, sizeof(path), "%s/stdout", tmp);
    cr_assert_str_eq(read_file(path), "sotest: value=hello world\n");

    /* run()'s return is the exit status; outputs append. */
    cr_assert_eq(
        host_run(exe, "build/test-plugins/sotest.so", "{\"value\": \"b\", \"fail\": true}"), 3);
    cr_assert_str_eq(read_file(out), "echo=hello world\necho=b\n");

    /* Unusable input or file: 127 and one line on stderr. */
    snprintf(path, sizeof(path), "%s/stderr", tmp);
    cr_assert_eq(host_run(exe, "build/test-plugins/sotest.so", "[1, 2]"), 127);
    cr_assert_str_eq(read_file(path),
                     "dmt plugin-host: the values on stdin are not a JSON object\n");
    cr_assert_eq(host_run(exe, "build/test-plugins/sotest.so", "{"), 127);
    cr_assert_eq(host_run(exe, "/nonexistent.so", "{}"), 127);
    cr_assert(strstr(read_file(path), "cannot load /nonexistent.so") != NULL, "%s",
              read_file(path));
    free(exe);
}

Test(shared, a_bad_so_fails_to_load, .init = setup, .fini = teardown) {
    char *exe = need_dmt();
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/junk.so", tmp);
    write_file(path, "not an ELF file\n", 0644);
    const char *dirs[] = {tmp, NULL};
    plugin_registry_init(dirs, exe);
    const struct plugin *p = entry("junk");
    cr_assert_not_null(p, "reported under the file's name");
    cr_assert_null(plugin_find("junk"));
    cr_assert(strncmp(p->error,
                      "describe: plugin-host exited with status 127: dmt plugin-host: cannot load ",
                      75) == 0,
              "%s", p->error);
    free(exe);
}

/* A fake dmt binary: a script standing in for `dmt plugin-host --describe`. */
static const char *fake_exe(const char *body) {
    static char exe[PATH_MAX + 16];
    char so[PATH_MAX + 16];
    snprintf(exe, sizeof(exe), "%s/fake-dmt", tmp);
    write_file(exe, body, 0755);
    snprintf(so, sizeof(so), "%s/plugins", tmp);
    mkdir(so, 0755);
    snprintf(so, sizeof(so), "%s/plugins/fake.so", tmp);
    write_file(so, "", 0644);
    return exe;
}

Test(shared, describe_output_is_validated, .init = setup, .fini = teardown) {
    const char *exe = fake_exe("#!/bin/sh\n"
                               "echo '{\"name\": \"fake\", \"version\": \"1\", \"run\": \"x\"}'\n");
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/plugins", tmp);
    const char *dirs[] = {dir, NULL};
    plugin_registry_init(dirs, exe);
    cr_assert_str_eq(plugin_at(1)->error, "describe: unknown key 'run'");
    cr_assert_str_eq(plugin_at(1)->name, "fake");
}

Test(shared, describe_garbage_and_signals, .init = setup, .fini = teardown) {
    const char *exe = fake_exe("#!/bin/sh\necho not json\n");
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/plugins", tmp);
    const char *dirs[] = {dir, NULL};
    plugin_registry_init(dirs, exe);
    cr_assert(strncmp(plugin_at(1)->error, "describe: line 1: ", 18) == 0, "%s",
              plugin_at(1)->error);
    plugin_registry_cleanup();

    fake_exe("#!/bin/sh\necho dying >&2\nkill -SEGV $$\n");
    plugin_registry_init(dirs, exe);
    cr_assert_str_eq(plugin_at(1)->error, "describe: plugin-host killed by signal 11: dying");
}

Test(shared, describe_is_killed_after_5_s, .init = setup, .fini = teardown, .timeout = 30) {
    const char *exe = fake_exe("#!/bin/sh\nsleep 60 &\nsleep 60\n");
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/plugins", tmp);
    const char *dirs[] = {dir, NULL};
    time_t t0 = time(NULL);
    plugin_registry_init(dirs, exe);
    time_t dt = time(NULL) - t0;
    cr_assert_str_eq(plugin_at(1)->error, "describe: no answer within 5 s (killed)");
    cr_assert(dt >= 4 && dt <= 8, "took %ld s", (long)dt);
}

Test(shared, no_self_exe_means_an_error, .init = setup, .fini = teardown) {
    fake_exe("#!/bin/sh\n");
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/plugins", tmp);
    const char *dirs[] = {dir, NULL};
    plugin_registry_init(dirs, NULL);
    cr_assert_str_eq(plugin_at(1)->error, "describe: the path of the dmt binary is unknown");
}
