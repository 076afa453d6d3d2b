/* spec.c - the one function that checks a JSON body against a spec. */
#include <string.h>

#include "http/http.h"

static const struct spec *find(const struct spec *specs, const char *name) {
    for (; specs->name != NULL; specs++)
        if (strcmp(specs->name, name) == 0) return specs;
    return NULL;
}

/* Checks one present member; adds a field error and returns false if bad. */
static bool check(struct req *r, const struct spec *sp, json_t *v) {
    const char *f = sp->name;
    switch (sp->type) {
    case SPEC_SLUG:
        if (!json_is_string(v)) return dmt_err_field(&r->err, f, "must be a string"), false;
        if (!name_is_slug(json_string_value(v)))
            return dmt_err_field(&r->err, f,
                                 "'%s' is not a valid name: use 1-63 of a-z 0-9 _ . - "
                                 "starting with a letter or digit",
                                 json_string_value(v)),
                   false;
        *(const char **)sp->dst = json_string_value(v);
        return true;
    case SPEC_VARNAME:
        if (!json_is_string(v)) return dmt_err_field(&r->err, f, "must be a string"), false;
        if (!name_is_var(json_string_value(v)))
            return dmt_err_field(&r->err, f,
                                 "'%s' is not a valid variable name: use 1-64 of A-Z a-z 0-9 _ "
                                 "not starting with a digit",
                                 json_string_value(v)),
                   false;
        *(const char **)sp->dst = json_string_value(v);
        return true;
    case SPEC_STRING:
        if (!json_is_string(v)) return dmt_err_field(&r->err, f, "must be a string"), false;
        *(const char **)sp->dst = json_string_value(v);
        return true;
    case SPEC_INT: {
        if (!json_is_integer(v)) return dmt_err_field(&r->err, f, "must be an integer"), false;
        json_int_t n = json_integer_value(v);
        if (n < sp->min || n > sp->max)
            return dmt_err_field(&r->err, f, "must be between %lld and %lld", (long long)sp->min,
                                 (long long)sp->max),
                   false;
        *(int64_t *)sp->dst = n;
        return true;
    }
    case SPEC_BOOL:
        if (!json_is_boolean(v)) return dmt_err_field(&r->err, f, "must be true or false"), false;
        *(bool *)sp->dst = json_is_true(v);
        return true;
    case SPEC_ANY:
        *(json_t **)sp->dst = v;
        return true;
    case SPEC_STR_ARRAY: {
        if (!json_is_array(v)) return dmt_err_field(&r->err, f, "must be an array"), false;
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) if (!json_is_string(item)) return dmt_err_field(
            &r->err, f, "must be an array of strings"),
                                                                   false;
        *(json_t **)sp->dst = v;
        return true;
    }
    case SPEC_TAGS: {
        if (!json_is_array(v)) return dmt_err_field(&r->err, f, "must be an array"), false;
        if (json_array_size(v) > 32)
            return dmt_err_field(&r->err, f, "has more than 32 tags"), false;
        size_t i, j;
        json_t *item, *other;
        json_array_foreach(v, i, item) {
            const char *t = json_string_value(item);
            if (t == NULL || !name_is_slug(t))
                return dmt_err_field(&r->err, f,
                                     "must be an array of tags: 1-63 of a-z 0-9 _ . - starting "
                                     "with a letter or digit"),
                       false;
            json_array_foreach(v, j, other) if (j < i && json_equal(item, other)) return dmt_err_field(
                &r->err, f, "names '%s' twice", t),
                                                                                   false;
        }
        *(json_t **)sp->dst = v;
        return true;
    }
    case SPEC_OBJECT:
        if (!json_is_object(v)) return dmt_err_field(&r->err, f, "must be an object"), false;
        *(json_t **)sp->dst = v;
        return true;
    }
    return false;
}

int spec_parse(struct req *r, const struct spec *specs) {
    json_t *body = r->json;
    if (body == NULL) {
        body = json_object();
        r->json = body;
    }
    if (!json_is_object(body)) {
        dmt_err_set(&r->err, DMT_ERR_INVALID, "the request body must be a JSON object");
        return dmt_err_field(&r->err, "", "must be a JSON object");
    }
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        const struct spec *sp = find(specs, key);
        if (sp == NULL) {
            dmt_err_field(&r->err, key, "unknown field");
            continue;
        }
        if (check(r, sp, v) && sp->present != NULL) *sp->present = true;
    }
    for (const struct spec *sp = specs; sp->name != NULL; sp++)
        if (sp->required && json_object_get(body, sp->name) == NULL)
            dmt_err_field(&r->err, sp->name, "is required");
    if (r->err.fields != NULL) {
        dmt_err_set(&r->err, DMT_ERR_INVALID, "the request body has %zu invalid field(s)",
                    json_array_size(r->err.fields));
        return DMT_ERR_INVALID;
    }
    return DMT_OK;
}
