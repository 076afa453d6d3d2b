/*
 * host.c - `dmt plugin-host [--describe] FILE.so`: the child-process side
 * of shared-object plugins (DESIGN.md §4).
 *
 * The server never dlopen()s a plugin: the registry runs this with
 * --describe once at start to learn the schema, and the executor runs it
 * once per task to call the plugin's run function. So a plugin that
 * crashes, leaks or hangs only ever takes down this short-lived process.
 *
 * Exit status: run()'s (0 success); 127 when the plugin cannot be loaded or
 * its descriptor or the values document is unusable (one line on stderr
 * says why); 2 on a usage error.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmt/plugin.h"
#include "model/model.h"
#include "plugin/plugin.h"

#define HOST_FAIL  127
#define VALUES_MAX ((size_t)64 << 20)

/* What the ctx's opaque points to during run(). */
struct host_state {
    const struct dmt_plugin *d;
    json_t *values; /* the values object */
    char **texts;   /* get()'s answers for non-strings, freed after run() */
    size_t ntexts;
    const char *out_path; /* $DMT_OUTPUT, or NULL */
};

/* One line on stderr; returns HOST_FAIL. */
static int host_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int host_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("dmt plugin-host: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return HOST_FAIL;
}

/* --- --describe ----------------------------------------------------------- */

/* Builds the plugin.json document of d (without run) into *out, or says
 * why the descriptor is unusable. */
static int describe_json(const struct dmt_plugin *d, json_t **out, char *why, size_t len) {
    *out = NULL;
    if (d->name == NULL || d->version == NULL) {
        snprintf(why, len, "the descriptor has no name or version");
        return -1;
    }
    if (d->nvars > 0 && d->vars == NULL) {
        snprintf(why, len, "the descriptor has nvars %zu but no vars", d->nvars);
        return -1;
    }
    json_t *vars = json_array();
    for (size_t i = 0; i < d->nvars; i++) {
        const struct dmt_plugin_var *v = &d->vars[i];
        if (v->name == NULL || v->type == NULL) {
            snprintf(why, len, "variables[%zu]: no name or type", i);
            json_decref(vars);
            return -1;
        }
        json_t *def = json_null();
        if (v->default_json != NULL) {
            json_error_t je;
            json_decref(def);
            def = json_loads(v->default_json, JSON_DECODE_ANY, &je);
            if (def == NULL) {
                snprintf(why, len, "variables[%zu].default_json: not JSON: %s", i, je.text);
                json_decref(vars);
                return -1;
            }
        }
        json_t *o = json_pack("{s:s, s:s, s:b, s:o, s:b, s:s}", "name", v->name, "type", v->type,
                              "required", v->required != 0, "default", def, "secret",
                              v->secret != 0, "description", v->description ? v->description : "");
        if (o == NULL) abort();
        if (v->values != NULL) {
            json_t *vals = json_array();
            for (const char *const *s = v->values; *s != NULL; s++)
                json_array_append_new(vals, json_string(*s));
            json_object_set_new(o, "values", vals);
        }
        json_array_append_new(vars, o);
    }
    *out = json_pack("{s:s, s:s, s:s, s:o}", "name", d->name, "version", d->version, "summary",
                     d->summary ? d->summary : "", "variables", vars);
    if (*out == NULL) abort();
    return 0;
}

static int do_describe(const struct dmt_plugin *d) {
    char why[256];
    json_t *doc;
    if (describe_json(d, &doc, why, sizeof(why)) != 0) return host_fail("%s", why);
    int rc = json_dumpf(doc, stdout, JSON_COMPACT) == 0 && fputc('\n', stdout) != EOF &&
                     fflush(stdout) == 0
                 ? 0
                 : host_fail("cannot write the schema: %s", strerror(errno));
    json_decref(doc);
    return rc;
}

/* --- run ------------------------------------------------------------------ */

/* The default of variable name as JSON (new reference), or NULL. */
static json_t *default_of(const struct dmt_plugin *d, const char *name) {
    for (size_t i = 0; d->vars != NULL && i < d->nvars; i++)
        if (d->vars[i].name != NULL && strcmp(d->vars[i].name, name) == 0 &&
            d->vars[i].default_json != NULL)
            return json_loads(d->vars[i].default_json, JSON_DECODE_ANY, NULL);
    return NULL;
}

/* A value as text: strings as they are, the rest as compact JSON; a
 * variable missing from the document falls back to the schema's default. */
static const char *ctx_get(const struct dmt_plugin_ctx *ctx, const char *name) {
    struct host_state *h = ctx->opaque;
    if (name == NULL) return NULL;
    json_t *v = json_object_get(h->values, name);
    if (v == NULL) {
        json_t *def = default_of(h->d, name);
        if (def == NULL) return NULL;
        json_object_set_new(h->values, name, def); /* lives as long as the values */
        v = def;
    }
    if (json_is_null(v)) return NULL;
    if (json_is_string(v)) return json_string_value(v);
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (text == NULL) return NULL;
    char **t = realloc(h->texts, (h->ntexts + 1) * sizeof(*t));
    if (t == NULL) {
        free(text);
        return NULL;
    }
    h->texts = t;
    h->texts[h->ntexts++] = text;
    return text;
}

static int ctx_output(const struct dmt_plugin_ctx *ctx, const char *key, const char *value) {
    struct host_state *h = ctx->opaque;
    if (key == NULL || value == NULL || !name_is_var(key) || strchr(value, '\n') != NULL) {
        errno = EINVAL;
        return -1;
    }
    if (h->out_path == NULL || *h->out_path == '\0') {
        errno = ENOENT;
        return -1;
    }
    char *line;
    int n = asprintf(&line, "%s=%s\n", key, value);
    if (n < 0) return -1;
    int fd = open(h->out_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    int rc = -1;
    if (fd >= 0) {
        /* One write of an O_APPEND file: lines of concurrent writers never mix. */
        ssize_t w;
        do
            w = write(fd, line, (size_t)n);
        while (w < 0 && errno == EINTR);
        rc = w == n ? 0 : -1;
        if (close(fd) != 0) rc = -1;
    }
    free(line);
    return rc;
}

/* Reads all of stdin (at most VALUES_MAX bytes) into a NUL-terminated
 * malloc'd buffer. */
static char *read_stdin(size_t *len, const char **why) {
    static const char too_large[] = "the values document is larger than 64 MiB";
    size_t cap = 64 * 1024, n = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL) abort();
    for (;;) {
        if (n == cap) {
            if (cap > VALUES_MAX) {
                *why = too_large;
                free(buf);
                return NULL;
            }
            cap *= 2;
            char *b = realloc(buf, cap + 1);
            if (b == NULL) abort();
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0) break;
    }
    if (ferror(stdin) || n > VALUES_MAX) {
        *why = n > VALUES_MAX ? too_large : strerror(errno);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static int do_run(const struct dmt_plugin *d) {
    if (d->run == NULL) return host_fail("%s has no run function", d->name);
    size_t len = 0;
    const char *why = NULL;
    char *text = read_stdin(&len, &why);
    if (text == NULL) return host_fail("cannot read the values from stdin: %s", why);
    json_error_t je;
    json_t *values = len == 0 ? json_object() : json_loadb(text, len, 0, &je);
    if (!json_is_object(values)) {
        bool parsed = values != NULL;
        json_decref(values);
        free(text);
        return host_fail("the values on stdin are not a JSON object%s%s", parsed ? "" : ": ",
                         parsed ? "" : je.text);
    }
    struct host_state h = {.d = d, .values = values, .out_path = getenv("DMT_OUTPUT")};
    struct dmt_plugin_ctx ctx = {
        .values_json = len == 0 ? "{}" : text, .get = ctx_get, .output = ctx_output, .opaque = &h};
    int rc = d->run(&ctx);
    fflush(stdout);
    fflush(stderr);
    for (size_t i = 0; i < h.ntexts; i++)
        free(h.texts[i]);
    free(h.texts);
    json_decref(values);
    free(text);
    return rc >= 0 && rc <= 255 ? rc : 1;
}

int plugin_host_main(int argc, char **argv) {
    static const char usage[] = "usage: dmt plugin-host [--describe] FILE.so\n";
    bool describe = false;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--describe") == 0) {
            describe = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (file == NULL && argv[i][0] != '-') {
            file = argv[i];
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (file == NULL) {
        fputs(usage, stderr);
        return 2;
    }
    /* Without a slash, dlopen would search the library path, not the
     * current folder the user meant. */
    char *path;
    if (asprintf(&path, "%s%s", strchr(file, '/') ? "" : "./", file) < 0) abort();
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    free(path);
    if (handle == NULL) return host_fail("cannot load %s: %s", file, dlerror());
    /* The handle stays open until the process exits: the plugin's data
     * (the descriptor) and code are in use up to the very end. */
    const struct dmt_plugin *d = dlsym(handle, "dmt_plugin");
    if (d == NULL) {
        const char *e = dlerror();
        return host_fail("%s: no symbol dmt_plugin (%s)", file, e ? e : "it is NULL");
    }
    if (d->abi != DMT_PLUGIN_ABI) {
        return host_fail("%s: plugin ABI %u, this dmt supports %u", file, d->abi,
                         (unsigned)DMT_PLUGIN_ABI);
    }
    return describe ? do_describe(d) : do_run(d);
}
