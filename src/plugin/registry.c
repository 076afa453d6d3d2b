/* registry.c - the plugin registry and the built-in plugins' schemas. */
#include "plugin/plugin.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "model/model.h"

static struct plugin *plugins;
static size_t nplugins;

static struct plugin *add_plugin(const char *name, const char *version, const char *summary,
                                 const char *kind) {
    struct plugin *p = realloc(plugins, (nplugins + 1) * sizeof(*p));
    if (p == NULL) abort();
    plugins = p;
    p = &plugins[nplugins++];
    memset(p, 0, sizeof(*p));
    p->name = util_strdup(name);
    p->version = util_strdup(version);
    p->summary = util_strdup(summary);
    p->kind = util_strdup(kind);
    return p;
}

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

void plugin_registry_init(void) {
    if (nplugins > 0) return;
    struct plugin *sh = add_plugin("shell", "1.0.0",
                                   "Runs a shell script; every other variable of the task is "
                                   "exported to it as an environment variable.",
                                   "builtin");
    add_var(sh, "script", VAR_TEXT, true, NULL, "The script to run.");
    add_var(sh, "shell", VAR_STRING, true, json_string("/bin/sh"),
            "The interpreter the script is given to.");
    add_var(sh, "workdir", VAR_STRING, false, NULL,
            "Working directory (default: the run's own folder).");
}

void plugin_registry_cleanup(void) {
    for (size_t i = 0; i < nplugins; i++) {
        struct plugin *p = &plugins[i];
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
        free(p->error);
    }
    free(plugins);
    plugins = NULL;
    nplugins = 0;
}

size_t plugin_count(void) { return nplugins; }

const struct plugin *plugin_at(size_t i) { return i < nplugins ? &plugins[i] : NULL; }

const struct plugin *plugin_find(const char *name) {
    for (size_t i = 0; i < nplugins; i++)
        if (plugins[i].error == NULL && strcmp(plugins[i].name, name) == 0) return &plugins[i];
    return NULL;
}
