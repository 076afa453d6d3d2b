/* repr.c - how each object looks in the API (DESIGN.md §3 shapes). */
#include <string.h>

#include "http/http.h"

static void add_meta(json_t *o, const struct meta *m) {
    json_object_set_new(o, "id", json_integer(m->id));
    json_object_set_new(o, "version", json_integer(m->version));
    json_object_set_new(o, "created_at", json_string(m->created_at));
    json_object_set_new(o, "updated_at", json_string(m->updated_at));
}

json_t *repr_env(const struct env *e) {
    json_t *o = json_pack("{s:s, s:s, s:i, s:b, s:O, s:o}", "name", e->name, "description",
                          e->description ? e->description : "", "position", e->position,
                          "protected", e->protected_, "grants", e->grants, "worker_tags",
                          e->worker_tags != NULL ? json_incref(e->worker_tags) : json_array());
    add_meta(o, &e->m);
    return o;
}

json_t *repr_job(const struct job *j, json_t *tasks) {
    json_t *o = json_pack("{s:s, s:s, s:o}", "name", j->name, "description",
                          j->description ? j->description : "", "tasks",
                          tasks ? tasks : json_array());
    add_meta(o, &j->m);
    return o;
}

json_t *repr_task(const struct task *t, json_t *variables) {
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:i, s:i, s:b}", "name", t->name, "plugin",
                          t->plugin, "position", t->position, "on_failure",
                          on_failure_name(t->on_failure), "timeout_s", t->timeout_s, "retries",
                          t->retries, "enabled", t->enabled);
    if (variables != NULL) json_object_set_new(o, "variables", variables);
    add_meta(o, &t->m);
    return o;
}

json_t *repr_var(const struct var *v, const struct override_list *ovs,
                 const struct env_list *envs) {
    json_t *overrides = json_object();
    for (size_t i = 0; ovs != NULL && i < ovs->n; i++) {
        const struct override *o = &ovs->items[i];
        if (o->var_id != v->m.id) continue;
        for (size_t e = 0; e < envs->n; e++)
            if (envs->items[e].m.id == o->env_id)
                json_object_set_new(overrides, envs->items[e].name,
                                    value_public(o->value, v->secret));
    }
    json_t *o = json_pack("{s:s, s:s, s:b, s:b, s:b, s:s, s:o, s:o}", "name", v->name, "type",
                          var_type_name(v->type), "required", v->required, "secret", v->secret,
                          "custom", v->custom, "description",
                          v->description ? v->description : "", "value",
                          value_public(v->value, v->secret), "overrides", overrides);
    if (v->values != NULL) json_object_set(o, "values", v->values);
    add_meta(o, &v->m);
    return o;
}

json_t *repr_list(json_t *items) {
    return json_pack("{s:o, s:n}", "items", items, "next");
}

json_t *repr_view_task(const struct job_view *v, const struct task *t) {
    json_t *vars = json_array();
    for (size_t i = 0; i < v->vars.n; i++)
        if (v->vars.items[i].task_id == t->m.id)
            json_array_append_new(vars, repr_var(&v->vars.items[i], &v->ovs, &v->envs));
    return repr_task(t, vars);
}

json_t *repr_view_job(const struct job_view *v) {
    json_t *tasks = json_array();
    for (size_t i = 0; i < v->tasks.n; i++)
        json_array_append_new(tasks, repr_view_task(v, &v->tasks.items[i]));
    return repr_job(&v->job, tasks);
}
