/*
 * dmt/plugin.h - the one header a shared-object plugin of dmt includes.
 *
 * A plugin is a .so file exporting one descriptor under the symbol
 * `dmt_plugin`:
 *
 *     #include <dmt/plugin.h>
 *
 *     static const struct dmt_plugin_var vars[] = {
 *         {.name = "who", .type = "string", .required = 1,
 *          .description = "Whom to greet."},
 *     };
 *
 *     static int run(const struct dmt_plugin_ctx *ctx) {
 *         printf("hello, %s\n", ctx->get(ctx, "who"));
 *         return ctx->output(ctx, "greeted", ctx->get(ctx, "who")) == 0 ? 0 : 1;
 *     }
 *
 *     DMT_PLUGIN_EXPORT const struct dmt_plugin dmt_plugin = {
 *         .abi = DMT_PLUGIN_ABI, .name = "hello", .version = "1.0.0",
 *         .summary = "Greets someone.", .vars = vars,
 *         .nvars = sizeof(vars) / sizeof(vars[0]), .run = run,
 *     };
 *
 * The server never loads the file itself: it runs `dmt plugin-host` in a
 * child process, once at start to read the descriptor (no run) and once per
 * task to call run(). A crash in the plugin fails its task, never the server.
 * The plugin may write its log to stdout and stderr.
 *
 * The descriptor and everything it points to must be static data: it is
 * read after dlopen() without calling any function of the plugin.
 *
 * Build: cc -shared -fPIC -I<dmt>/include -o NAME.so NAME.c
 */
#ifndef DMT_PUBLIC_PLUGIN_H
#define DMT_PUBLIC_PLUGIN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this interface. A host refuses a descriptor whose abi is
 * not the one it was built with. */
#define DMT_PLUGIN_ABI 1

/* Marks the descriptor as exported even under -fvisibility=hidden. */
#define DMT_PLUGIN_EXPORT __attribute__((visibility("default")))

/* One variable of the plugin's schema. */
struct dmt_plugin_var {
    const char *name;          /* [A-Za-z_][A-Za-z0-9_]{0,63} */
    const char *type;          /* "string", "text", "int", "bool", "enum" or "json" */
    int required;              /* nonzero: a task must give it a value */
    const char *default_json;  /* the default as JSON text ("\"x\"", "42", "true"), or NULL */
    int secret;                /* nonzero: masked in logs and in the API */
    const char *description;   /* one sentence, or NULL */
    const char *const *values; /* enum only: the allowed values, NULL-terminated */
};

/* What run() gets. Every pointer it hands out lives until run() returns. */
struct dmt_plugin_ctx {
    /* The task's resolved values as one JSON object text,
     * {"NAME": value, ...}, secrets included. */
    const char *values_json;
    /* The value of variable name as text: strings as they are (unquoted),
     * other values as JSON ("42", "true", "{\"a\":1}"); the variable's
     * default_json when the values lack it; NULL when it has no value or
     * is null. */
    const char *(*get)(const struct dmt_plugin_ctx *ctx, const char *name);
    /* Records one output of the task (a line key=value in the file named
     * by $DMT_OUTPUT). key is [A-Za-z_][A-Za-z0-9_]*; neither may hold a
     * newline. Returns 0, or -1 if it could not be recorded. */
    int (*output)(const struct dmt_plugin_ctx *ctx, const char *key, const char *value);
    /* The host's own state; not for the plugin. */
    void *opaque;
};

/* The descriptor, exported under the symbol `dmt_plugin`. */
struct dmt_plugin {
    unsigned abi;        /* DMT_PLUGIN_ABI */
    const char *name;    /* [a-z0-9][a-z0-9_.-]{0,62}: the plugin name tasks refer to */
    const char *version; /* free text, e.g. "1.0.0" */
    const char *summary; /* one line */
    const struct dmt_plugin_var *vars;
    size_t nvars;
    /* Does the task's work. Returns its exit status: 0 success, 1..255
     * failure (anything else counts as 1). */
    int (*run)(const struct dmt_plugin_ctx *ctx);
};

#ifdef __cplusplus
}
#endif

#endif
