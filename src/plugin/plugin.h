/*
 * plugin.h - the registry of task types (DESIGN.md §4).
 *
 * The registry is filled once at start (built-ins first, then the plugin
 * folders) and read-only afterwards, so any thread may read it without
 * locks. Plugins that failed to load stay in it with `error` set, so that
 * GET /plugins reports them by name and reason.
 */
#ifndef DMT_PLUGIN_H
#define DMT_PLUGIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"

struct plugin_var {
    char *name;
    int type; /* enum var_type */
    bool required;
    bool secret;
    json_t *default_value; /* NULL: no default */
    char *description;
    json_t *values; /* enum values, else NULL */
};

struct plugin {
    char *name;
    char *version;
    char *summary;
    char *kind;  /* "builtin", "executable", "shared" */
    char *path;  /* folder or .so file it came from; NULL for built-ins */
    char *run;   /* executable plugins: absolute path of the program to start */
    char *error; /* why it failed to load, else NULL */
    bool export_plain; /* also export every variable as NAME=value (shell) */
    struct plugin_var *vars;
    size_t nvars;
};

/*
 * Fills the registry, once, before any lookup: the built-in plugins, then
 * every plugin found in the folders of dirs (NULL-terminated; the folders
 * of DMT_PLUGIN_PATH and of --plugin-dir, in that order). A folder holding
 * plugin.json is an executable plugin; a file NAME.so is a shared-object
 * plugin, described by running `self_exe plugin-host --describe FILE` in a
 * child process so that no plugin code ever runs in the server. A plugin
 * that fails to load is kept with `error` set and logged; it never stops
 * the server. A name already taken is such an error too.
 */
void plugin_registry_init(const char *const *dirs, const char *self_exe);
void plugin_registry_cleanup(void);

/*
 * How to start one task of plugin p: a NULL-terminated argv (each string
 * and the array malloc'd; free with plugin_argv_free) for proc_spawn.
 * values are the task's resolved values; taskdir is the task's own private
 * folder, where a built-in may write files (the shell writes its script
 * there, mode 0600, so that no value ever appears on argv).
 * - builtin shell: [values.shell, TASKDIR/script]
 * - executable: [p->run]
 * - shared: [self_exe, "plugin-host", p->path]
 */
int plugin_command(const struct plugin *p, const json_t *values, const char *taskdir,
                   char ***argv, struct dmt_err *err);
void plugin_argv_free(char **argv);

/*
 * `dmt plugin-host [--describe] FILE.so`: the child-process side of
 * shared-object plugins. --describe prints the plugin's schema as the JSON
 * of a plugin.json; otherwise it reads the values document from stdin and
 * calls the plugin's run function. Returns the process exit status.
 */
int plugin_host_main(int argc, char **argv);

size_t plugin_count(void);
const struct plugin *plugin_at(size_t i);
/* Returns the loaded plugin of that name, or NULL (also for failed ones). */
const struct plugin *plugin_find(const char *name);

#endif
