/* res_meta.c - /healthz, /api/v1/openapi.json and /api/v1/plugins. */
#include <string.h>

#include "http/embedded.h"
#include "http/http.h"
#include "plugin/plugin.h"

const struct embedded_file *embedded_find(const char *path) {
    for (const struct embedded_file *f = embedded_files; f->path != NULL; f++)
        if (strcmp(f->path, path) == 0) return f;
    return NULL;
}

int res_healthz(struct req *r) {
    static const char ok[] = "{\"status\":\"ok\"}";
    return reply_text(r, 200, "application/json", ok, sizeof(ok) - 1);
}

int res_openapi(struct req *r) {
    const struct embedded_file *f = embedded_find("src/http/openapi.json");
    if (f == NULL) return dmt_err_set(&r->err, DMT_ERR_NOT_FOUND, "no OpenAPI document built in");
    return reply_text(r, 200, "application/json", (const char *)f->data, f->size);
}

static json_t *plugin_json(const struct plugin *p) {
    json_t *vars = json_array();
    for (size_t i = 0; i < p->nvars; i++) {
        const struct plugin_var *v = &p->vars[i];
        json_t *o = json_pack("{s:s, s:s, s:b, s:O?, s:b, s:s}", "name", v->name, "type",
                              var_type_name(v->type), "required", v->required, "default",
                              v->default_value, "secret", v->secret, "description",
                              v->description ? v->description : "");
        if (json_object_get(o, "default") == NULL) json_object_set_new(o, "default", json_null());
        if (v->values != NULL) json_object_set(o, "values", v->values);
        json_array_append_new(vars, o);
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", p->name, "version",
                          p->version ? p->version : "", "summary", p->summary ? p->summary : "",
                          "kind", p->kind, "variables", vars);
    if (p->error != NULL) json_object_set_new(o, "error", json_string(p->error));
    if (p->path != NULL) json_object_set_new(o, "path", json_string(p->path));
    return o;
}

int res_plugin_list(struct req *r) {
    json_t *items = json_array();
    for (size_t i = 0; i < plugin_count(); i++)
        json_array_append_new(items, plugin_json(plugin_at(i)));
    return reply_json(r, 200, repr_list(items), NULL);
}

int res_plugin_get(struct req *r) {
    for (size_t i = 0; i < plugin_count(); i++)
        if (strcmp(plugin_at(i)->name, r->params[0]) == 0)
            return reply_json(r, 200, plugin_json(plugin_at(i)), NULL);
    return dmt_err_set(&r->err, DMT_ERR_NOT_FOUND, "no plugin named '%s'", r->params[0]);
}
