/*
 * registry.c - the plugin registry: the built-in plugins' schemas, the two
 * loaders (executable folders with plugin.json, shared objects described
 * by a `dmt plugin-host --describe` child) and how to start a task of each.
 *
 * Both loaders read the same JSON schema and validate it with one strict
 * function (parse_schema), so a shared object is held to exactly the rules
 * of a plugin.json. Nothing in here ever runs plugin code in the server.
 */
#include "plugin/plugin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "model/model.h"

#define SCHEMA_MAX          (1 << 20) /* largest plugin.json or describe output */
#define DESCRIBE_ERR_MAX    512       /* stderr of a describe child kept for the message */
#define DESCRIBE_TIMEOUT_MS 5000

static struct plugin *plugins;
static size_t nplugins;
static char *self_exe_path; /* the dmt binary, for shared-object plugins */

/* --- small helpers -------------------------------------------------------- */

static void plugin_free_members(struct plugin *p) {
    for (size_t j = 0; j < p->nvars; j++) {
        free(p->vars[j].name);
        free(p->vars[j].description);
        json_decref(p->vars[j].default_value);
        json_decref(p->vars[j].values);
    }
    free(p->vars);
    free(p->name);
    free(p->version);
    free(p->summary);
    free(p->kind);
    free(p->path);
    free(p->run);
    free(p->error);
    memset(p, 0, sizeof(*p));
}

/* Appends a copy of *p (taking over its members) to the registry. */
static void registry_append(struct plugin *p) {
    struct plugin *a = realloc(plugins, (nplugins + 1) * sizeof(*a));
    if (a == NULL) abort();
    plugins = a;
    plugins[nplugins++] = *p;
    memset(p, 0, sizeof(*p));
}

/* Formats the reason of a failure into why; returns -1 for `return fail(...)`. */
static int fail(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return -1;
}

static char *path_join(const char *a, const char *b) {
    char *s;
    if (asprintf(&s, "%s/%s", a, b) < 0) abort();
    return s;
}

/* --- built-ins ------------------------------------------------------------ */

/* Takes over default_value. */
static void add_var(struct plugin *p, const char *name, int type, bool required,
                    json_t *default_value, const char *description) {
    struct plugin_var *v = realloc(p->vars, (p->nvars + 1) * sizeof(*v));
    if (v == NULL) abort();
    p->vars = v;
    v = &p->vars[p->nvars++];
    memset(v, 0, sizeof(*v));
    v->name = util_strdup(name);
    v->type = type;
    v->required = required;
    v->default_value = default_value;
    v->description = util_strdup(description);
}

static void add_builtins(void) {
    struct plugin sh = {
        .name = util_strdup("shell"),
        .version = util_strdup("1.0.0"),
        .summary = util_strdup("Runs a shell script; every other variable of the task is "
                               "exported to it as an environment variable."),
        .kind = util_strdup("builtin"),
        .export_plain = true,
    };
    add_var(&sh, "script", VAR_TEXT, true, NULL, "The script to run.");
    add_var(&sh, "shell", VAR_STRING, true, json_string("/bin/sh"),
            "The interpreter the script is given to.");
    add_var(&sh, "workdir", VAR_STRING, false, NULL,
            "Working directory (default: the run's own folder).");
    registry_append(&sh);
}

/* --- the schema (plugin.json, or the output of plugin-host --describe) ---- */

static bool key_in(const char *key, const char *const *keys) {
    for (; *keys != NULL; keys++)
        if (strcmp(key, *keys) == 0) return true;
    return false;
}

/* Checks that obj (an object) has no key outside keys; prefix names it. */
static int check_keys(const json_t *obj, const char *const *keys, const char *prefix, char *why,
                      size_t len) {
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        if (!key_in(key, keys)) return fail(why, len, "%sunknown key '%s'", prefix, key);
    }
    return 0;
}

/* An optional boolean member: absent gives false. */
static int opt_bool(const json_t *obj, const char *key, bool *out, const char *prefix, char *why,
                    size_t len) {
    json_t *v = json_object_get(obj, key);
    *out = false;
    if (v == NULL) return 0;
    if (!json_is_boolean(v)) return fail(why, len, "%s%s: must be true or false", prefix, key);
    *out = json_is_true(v);
    return 0;
}

/* An optional string member: absent gives NULL. */
static int opt_string(const json_t *obj, const char *key, const char **out, const char *prefix,
                      char *why, size_t len) {
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL) return 0;
    if (!json_is_string(v)) return fail(why, len, "%s%s: must be a string", prefix, key);
    *out = json_string_value(v);
    return 0;
}

/* Parses variables[i] into v (zeroed by the caller; members owned by v even
 * on failure). */
static int parse_var(const json_t *o, size_t i, struct plugin_var *v, char *why, size_t len) {
    static const char *const keys[] = {"name",   "type",        "required", "default",
                                       "secret", "description", "values",   NULL};
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "variables[%zu].", i);
    if (!json_is_object(o)) return fail(why, len, "variables[%zu]: must be an object", i);
    char where[32];
    snprintf(where, sizeof(where), "variables[%zu]: ", i);
    if (check_keys(o, keys, where, why, len) != 0) return -1;

    const char *name, *type, *desc;
    if (opt_string(o, "name", &name, prefix, why, len) != 0) return -1;
    if (name == NULL) return fail(why, len, "%sname: missing", prefix);
    if (!name_is_var(name))
        return fail(why, len, "%sname: '%s' is not a variable name ([A-Za-z_][A-Za-z0-9_]{0,63})",
                    prefix, name);
    v->name = util_strdup(name);

    if (opt_string(o, "type", &type, prefix, why, len) != 0) return -1;
    if (type == NULL) return fail(why, len, "%stype: missing", prefix);
    v->type = var_type_parse(type);
    if (v->type < 0) return fail(why, len, "%stype: unknown type '%s'", prefix, type);

    if (opt_bool(o, "required", &v->required, prefix, why, len) != 0) return -1;
    if (opt_bool(o, "secret", &v->secret, prefix, why, len) != 0) return -1;
    if (opt_string(o, "description", &desc, prefix, why, len) != 0) return -1;
    v->description = util_strdup(desc ? desc : "");

    json_t *values = json_object_get(o, "values");
    if (v->type == VAR_ENUM) {
        if (values == NULL) return fail(why, len, "%svalues: required for type enum", prefix);
        if (!json_is_array(values) || json_array_size(values) == 0)
            return fail(why, len, "%svalues: must be a non-empty array of strings", prefix);
        size_t j;
        json_t *s;
        json_array_foreach(values, j, s) {
            if (!json_is_string(s))
                return fail(why, len, "%svalues[%zu]: must be a string", prefix, j);
            for (size_t k = 0; k < j; k++)
                if (json_equal(s, json_array_get(values, k)))
                    return fail(why, len, "%svalues[%zu]: '%s' is listed twice", prefix, j,
                                json_string_value(s));
        }
        v->values = json_deep_copy(values);
    } else if (values != NULL) {
        return fail(why, len, "%svalues: only for type enum", prefix);
    }

    json_t *def = json_object_get(o, "default");
    if (def != NULL && !json_is_null(def)) {
        struct var probe = {.name = v->name, .type = v->type, .values = v->values};
        struct dmt_err e;
        dmt_err_init(&e);
        if (var_value_check(&probe, def, "default", &e) != DMT_OK) {
            json_t *f = json_array_get(e.fields, 0);
            const char *msg = json_string_value(json_object_get(f, "message"));
            fail(why, len, "%sdefault: %s", prefix, msg ? msg : "does not fit the type");
            dmt_err_cleanup(&e);
            return -1;
        }
        dmt_err_cleanup(&e);
        v->default_value = json_deep_copy(def);
    }
    return 0;
}

/*
 * Validates a plugin schema document strictly and fills p's name, version,
 * summary and vars. with_run: the document must have `run` (plugin.json),
 * handed back in *run (borrowed from doc); otherwise `run` is an unknown
 * key. On failure why says which member is wrong; p->name is set only if
 * the name itself was valid, and vars are left for the caller to free.
 */
static int parse_schema(const json_t *doc, bool with_run, const char **run, struct plugin *p,
                        char *why, size_t len) {
    static const char *const keys_run[] = {"name", "version", "summary", "run", "variables", NULL};
    static const char *const keys[] = {"name", "version", "summary", "variables", NULL};
    if (!json_is_object(doc)) return fail(why, len, "must be a JSON object");
    if (check_keys(doc, with_run ? keys_run : keys, "", why, len) != 0) return -1;

    const char *name, *version, *summary;
    if (opt_string(doc, "name", &name, "", why, len) != 0) return -1;
    if (name == NULL) return fail(why, len, "name: missing");
    if (!name_is_slug(name))
        return fail(why, len, "name: '%s' is not a plugin name ([a-z0-9][a-z0-9_.-]{0,62})", name);
    free(p->name);
    p->name = util_strdup(name);
    if (opt_string(doc, "version", &version, "", why, len) != 0) return -1;
    if (version == NULL || *version == '\0') return fail(why, len, "version: missing");
    p->version = util_strdup(version);
    if (opt_string(doc, "summary", &summary, "", why, len) != 0) return -1;
    p->summary = util_strdup(summary ? summary : "");
    if (with_run) {
        if (opt_string(doc, "run", run, "", why, len) != 0) return -1;
        if (*run == NULL) return fail(why, len, "run: missing");
    }

    json_t *vars = json_object_get(doc, "variables");
    if (vars == NULL) return 0;
    if (!json_is_array(vars)) return fail(why, len, "variables: must be an array");
    size_t n = json_array_size(vars);
    if (n > 0) {
        p->vars = calloc(n, sizeof(*p->vars));
        if (p->vars == NULL) abort();
    }
    for (size_t i = 0; i < n; i++) {
        struct plugin_var *v = &p->vars[p->nvars++];
        if (parse_var(json_array_get(vars, i), i, v, why, len) != 0) return -1;
        for (size_t k = 0; k < i; k++)
            if (strcmp(p->vars[k].name, v->name) == 0)
                return fail(why, len, "variables[%zu].name: '%s' is declared twice", i, v->name);
    }
    return 0;
}

/* Drops what a failed parse left behind, keeping the name for the report. */
static void drop_schema(struct plugin *p) {
    for (size_t j = 0; j < p->nvars; j++) {
        free(p->vars[j].name);
        free(p->vars[j].description);
        json_decref(p->vars[j].default_value);
        json_decref(p->vars[j].values);
    }
    free(p->vars);
    p->vars = NULL;
    p->nvars = 0;
}

/* --- executable plugins --------------------------------------------------- */

/* Resolves run (relative to the folder real, itself a realpath) into an
 * absolute path of an executable regular file inside the folder. */
static int check_run(const char *real, const char *run, char **out, char *why, size_t len) {
    if (*run == '\0' || *run == '/')
        return fail(why, len, "run: '%s' must be a relative path inside the plugin folder", run);
    for (const char *c = run; c != NULL; c = strchr(c, '/')) {
        if (*c == '/') c++;
        if (strncmp(c, "..", 2) == 0 && (c[2] == '/' || c[2] == '\0'))
            return fail(why, len, "run: '%s' must not contain '..'", run);
    }
    char *joined = path_join(real, run);
    char *abs = realpath(joined, NULL);
    int e = errno;
    free(joined);
    if (abs == NULL) return fail(why, len, "run: '%s': %s", run, strerror(e));
    size_t n = strlen(real);
    struct stat st;
    if (strncmp(abs, real, n) != 0 || (abs[n] != '/' && abs[n] != '\0')) {
        fail(why, len, "run: '%s' leads outside the plugin folder", run);
    } else if (stat(abs, &st) != 0 || !S_ISREG(st.st_mode)) {
        fail(why, len, "run: '%s' is not a regular file", run);
    } else if (access(abs, X_OK) != 0) {
        fail(why, len, "run: '%s' is not executable", run);
    } else {
        *out = abs;
        return 0;
    }
    free(abs);
    return -1;
}

/* Loads the folder real (a realpath holding plugin.json) into p. */
static int load_executable(const char *real, struct plugin *p, char *why, size_t len) {
    char *file = path_join(real, "plugin.json");
    json_t *doc = NULL;
    int rc = -1;
    struct stat st;
    if (stat(file, &st) != 0) {
        fail(why, len, "plugin.json: %s", strerror(errno));
        goto out;
    }
    if (st.st_size > SCHEMA_MAX) {
        fail(why, len, "plugin.json: larger than %d bytes", SCHEMA_MAX);
        goto out;
    }
    json_error_t je;
    doc = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL) {
        fail(why, len, "plugin.json: line %d: %s", je.line, je.text);
        goto out;
    }
    const char *run = NULL;
    char inner[400];
    if (parse_schema(doc, true, &run, p, inner, sizeof(inner)) != 0 ||
        check_run(real, run, &p->run, inner, sizeof(inner)) != 0) {
        fail(why, len, "plugin.json: %s", inner);
        goto out;
    }
    rc = 0;
out:
    json_decref(doc);
    free(file);
    return rc;
}

/* --- shared-object plugins ------------------------------------------------ */

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for pid until deadline; kills its process group past it. Returns
 * the wait status, or -1 if killed for time. */
static int reap_until(pid_t pid, long long deadline, bool kill_now) {
    int status = 0;
    if (!kill_now) {
        for (;;) {
            pid_t r = waitpid(pid, &status, WNOHANG);
            if (r == pid) return status;
            if (r < 0 && errno != EINTR) return 0; /* not ours any more: nothing to judge */
            if (now_ms() >= deadline) break;
            struct timespec ts = {0, 5 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return -1;
}

/*
 * Runs `self_exe plugin-host --describe so` with an empty environment but
 * for PATH and LANG, in its own process group, no fd of ours but the pipes,
 * for at most DESCRIBE_TIMEOUT_MS. On success *out holds its stdout
 * (malloc'd, NUL-terminated, caller frees).
 */
static int describe(const char *so, char **out, size_t *outlen, char *why, size_t len) {
    int op[2] = {-1, -1}, ep[2] = {-1, -1};
    char *buf = NULL, ebuf[DESCRIBE_ERR_MAX];
    size_t n = 0, en = 0;
    int rc = -1;
    pid_t pid = -1;
    bool fa_init = false, at_init = false;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;

    if (pipe2(op, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0) {
        fail(why, len, "describe: pipe: %s", strerror(errno));
        goto out;
    }
    if (posix_spawn_file_actions_init(&fa) != 0) abort();
    fa_init = true;
    if (posix_spawnattr_init(&at) != 0) abort();
    at_init = true;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, op[1], 1);
    posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    char *argv[] = {self_exe_path, "plugin-host", "--describe", (char *)so, NULL};
    char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", NULL};
    int e = posix_spawn(&pid, self_exe_path, &fa, &at, argv, envp);
    if (e != 0) {
        pid = -1;
        fail(why, len, "describe: cannot start %s: %s", self_exe_path, strerror(e));
        goto out;
    }
    close(op[1]);
    close(ep[1]);
    op[1] = ep[1] = -1;

    long long deadline = now_ms() + DESCRIBE_TIMEOUT_MS;
    buf = malloc(SCHEMA_MAX + 1);
    if (buf == NULL) abort();
    struct pollfd pf[2] = {{op[0], POLLIN, 0}, {ep[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            reap_until(pid, 0, true);
            pid = -1;
            fail(why, len, "describe: no answer within %d s (killed)", DESCRIBE_TIMEOUT_MS / 1000);
            goto out;
        }
        int r = poll(pf, 2, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            fail(why, len, "describe: poll: %s", strerror(errno));
            goto out;
        }
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || pf[i].revents == 0) continue;
            char tmp[4096];
            ssize_t got = read(pf[i].fd, tmp, sizeof(tmp));
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) {
                pf[i].fd = -1; /* closed below through op/ep */
                open_fds--;
                continue;
            }
            if (i == 0) {
                if (n + (size_t)got > SCHEMA_MAX) {
                    fail(why, len, "describe: more than %d bytes of output", SCHEMA_MAX);
                    goto out;
                }
                memcpy(buf + n, tmp, (size_t)got);
                n += (size_t)got;
            } else {
                size_t room = sizeof(ebuf) - 1 - en;
                size_t take = (size_t)got < room ? (size_t)got : room;
                memcpy(ebuf + en, tmp, take);
                en += take;
            }
        }
    }
    int status = reap_until(pid, deadline, false);
    pid = -1;
    ebuf[en] = '\0';
    ebuf[strcspn(ebuf, "\n")] = '\0';
    if (status == -1) {
        fail(why, len, "describe: no exit within %d s (killed)", DESCRIBE_TIMEOUT_MS / 1000);
    } else if (WIFSIGNALED(status)) {
        fail(why, len, "describe: plugin-host killed by signal %d%s%s", WTERMSIG(status),
             en ? ": " : "", ebuf);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        fail(why, len, "describe: plugin-host exited with status %d%s%s", WEXITSTATUS(status),
             en ? ": " : "", ebuf);
    } else {
        buf[n] = '\0';
        *out = buf;
        *outlen = n;
        buf = NULL;
        rc = 0;
    }
out:
    if (pid > 0) reap_until(pid, 0, true);
    for (int i = 0; i < 2; i++) {
        if (op[i] >= 0) close(op[i]);
        if (ep[i] >= 0) close(ep[i]);
    }
    if (fa_init) posix_spawn_file_actions_destroy(&fa);
    if (at_init) posix_spawnattr_destroy(&at);
    free(buf);
    return rc;
}

/* Loads the shared object real (a realpath) into p. */
static int load_shared(const char *real, struct plugin *p, char *why, size_t len) {
    if (self_exe_path == NULL)
        return fail(why, len, "describe: the path of the dmt binary is unknown");
    char *text = NULL;
    size_t n = 0;
    if (describe(real, &text, &n, why, len) != 0) return -1;
    json_error_t je;
    json_t *doc = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (doc == NULL) return fail(why, len, "describe: line %d: %s", je.line, je.text);
    char inner[400];
    int rc = parse_schema(doc, false, NULL, p, inner, sizeof(inner));
    if (rc != 0) fail(why, len, "describe: %s", inner);
    json_decref(doc);
    return rc;
}

/* --- the scan ------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a > b && strcmp(s + a - b, suffix) == 0;
}

/* Loads one folder entry if it is a plugin, and registers it either way
 * (with error set on failure). */
static void load_entry(const char *dir, const char *entry) {
    char *full = path_join(dir, entry);
    char *probe = NULL;
    struct stat st;
    struct plugin p = {0};
    char why[512] = "";
    bool shared;
    if (stat(full, &st) != 0) goto out;
    if (S_ISDIR(st.st_mode)) {
        probe = path_join(full, "plugin.json");
        if (access(probe, F_OK) != 0) {
            log_debug("plugins: %s has no plugin.json, skipped", full);
            goto out;
        }
        shared = false;
    } else if (S_ISREG(st.st_mode) && ends_with(entry, ".so")) {
        shared = true;
    } else {
        goto out;
    }

    p.kind = util_strdup(shared ? "shared" : "executable");
    p.path = realpath(full, NULL);
    if (p.path == NULL) {
        int e = errno;
        p.path = util_strdup(full);
        fail(why, sizeof(why), "%s: %s", full, strerror(e));
    } else if (shared) {
        load_shared(p.path, &p, why, sizeof(why));
    } else {
        load_executable(p.path, &p, why, sizeof(why));
    }
    if (p.name == NULL) { /* the name itself was bad: report under the file's */
        p.name = util_strdup(entry);
        if (shared) p.name[strlen(p.name) - 3] = '\0';
    }
    if (why[0] == '\0') {
        for (size_t i = 0; i < nplugins; i++) {
            if (strcmp(plugins[i].name, p.name) == 0) {
                fail(why, sizeof(why), "name '%s' is already taken by %s", p.name,
                     plugins[i].path ? plugins[i].path : "a built-in plugin");
                break;
            }
        }
    }
    if (why[0] != '\0') {
        drop_schema(&p);
        free(p.run);
        p.run = NULL;
        p.error = util_strdup(why);
        log_warn("plugin %s (%s) failed to load: %s", p.name, p.path, p.error);
    } else {
        log_info("plugin %s %s loaded (%s, %s)", p.name, p.version, p.kind, p.path);
    }
    registry_append(&p);
out:
    plugin_free_members(&p);
    free(probe);
    free(full);
}

static void scan_dir(const char *dir) {
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0) {
        log_warn("plugin folder %s: %s (skipped)", dir, strerror(errno));
        return;
    }
    for (int i = 0; i < n; i++) {
        if (ents[i]->d_name[0] != '.') load_entry(dir, ents[i]->d_name);
        free(ents[i]);
    }
    free(ents);
}

void plugin_registry_init(const char *const *dirs, const char *self_exe) {
    if (nplugins > 0) return;
    self_exe_path = util_strdup(self_exe);
    add_builtins();
    for (size_t i = 0; dirs != NULL && dirs[i] != NULL; i++)
        scan_dir(dirs[i]);
}

void plugin_registry_cleanup(void) {
    for (size_t i = 0; i < nplugins; i++)
        plugin_free_members(&plugins[i]);
    free(plugins);
    plugins = NULL;
    nplugins = 0;
    free(self_exe_path);
    self_exe_path = NULL;
}

size_t plugin_count(void) { return nplugins; }

const struct plugin *plugin_at(size_t i) { return i < nplugins ? &plugins[i] : NULL; }

const struct plugin *plugin_find(const char *name) {
    for (size_t i = 0; i < nplugins; i++)
        if (plugins[i].error == NULL && strcmp(plugins[i].name, name) == 0) return &plugins[i];
    return NULL;
}

/* --- starting a task ------------------------------------------------------ */

static char **argv_new(size_t n, ...) {
    char **argv = calloc(n + 1, sizeof(*argv));
    if (argv == NULL) abort();
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        argv[i] = util_strdup(va_arg(ap, const char *));
    va_end(ap);
    return argv;
}

void plugin_argv_free(char **argv) {
    if (argv == NULL) return;
    for (char **a = argv; *a != NULL; a++)
        free(*a);
    free(argv);
}

/* Writes the shell's script to TASKDIR/script, mode 0600, never through a
 * link planted there: a stale file of an earlier attempt is removed first
 * and the new one is created exclusively. */
static int write_script(const char *path, const char *script, struct dmt_err *err) {
    if (unlink(path) != 0 && errno != ENOENT) goto io;
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) goto io;
    size_t len = strlen(script), off = 0;
    while (off < len) {
        ssize_t w = write(fd, script + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            errno = e;
            goto io;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0) goto io;
    return DMT_OK;
io:
    if (err != NULL && err->msg[0] == '\0') err->sys_errno = errno;
    return dmt_err_set(err, DMT_ERR_IO, "cannot write %s: %s", path, strerror(errno));
}

int plugin_command(const struct plugin *p, const json_t *values, const char *taskdir, char ***argv,
                   struct dmt_err *err) {
    *argv = NULL;
    if (p->error != NULL)
        return dmt_err_set(err, DMT_ERR_INVALID, "plugin %s failed to load: %s", p->name, p->error);
    if (strcmp(p->kind, "executable") == 0) {
        *argv = argv_new(1, p->run);
        return DMT_OK;
    }
    if (strcmp(p->kind, "shared") == 0) {
        if (self_exe_path == NULL)
            return dmt_err_set(err, DMT_ERR_CONFIG,
                               "plugin %s: the path of the dmt binary is unknown", p->name);
        *argv = argv_new(3, self_exe_path, "plugin-host", p->path);
        return DMT_OK;
    }
    if (strcmp(p->name, "shell") != 0)
        return dmt_err_set(err, DMT_ERR_INTERNAL, "no command for built-in plugin %s", p->name);

    json_t *script = json_object_get(values, "script");
    json_t *shell = json_object_get(values, "shell");
    if (!json_is_string(script))
        return dmt_err_set(err, DMT_ERR_INVALID, "shell: the variable script must be a string");
    if (shell != NULL && !json_is_null(shell) &&
        (!json_is_string(shell) || json_string_length(shell) == 0))
        return dmt_err_set(err, DMT_ERR_INVALID,
                           "shell: the variable shell must be a non-empty string");
    const char *sh = json_is_string(shell) ? json_string_value(shell) : "/bin/sh";
    char *path = path_join(taskdir, "script");
    int rc = write_script(path, json_string_value(script), err);
    if (rc == DMT_OK) *argv = argv_new(2, sh, path);
    free(path);
    return rc;
}
