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
    char *path;  /* folder or file it came from; NULL for built-ins */
    char *error; /* why it failed to load, else NULL */
    struct plugin_var *vars;
    size_t nvars;
};

/* Loads the built-in plugins. Safe to call once before any lookup. */
void plugin_registry_init(void);
void plugin_registry_cleanup(void);

size_t plugin_count(void);
const struct plugin *plugin_at(size_t i);
/* Returns the loaded plugin of that name, or NULL (also for failed ones). */
const struct plugin *plugin_find(const char *name);

#endif
