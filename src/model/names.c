/* names.c - name rules (DESIGN.md §2), type names and value type checks. */
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

static bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool name_is_slug(const char *s) {
    if (s == NULL || !lower_alnum(s[0])) return false;
    size_t n = 1;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (!lower_alnum(c) && c != '_' && c != '.' && c != '-') return false;
    }
    return n <= 63;
}

bool name_is_var(const char *s) {
    if (s == NULL) return false;
    char c = s[0];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')) return false;
    size_t n = 1;
    for (; s[n] != '\0'; n++) {
        c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return n <= 64;
}

static const char *const type_names[] = {
#define X(n, s) s,
    VAR_TYPE_MAP(X)
#undef X
};

const char *var_type_name(int type) {
    if (type < 0 || type >= (int)(sizeof(type_names) / sizeof(type_names[0]))) return "string";
    return type_names[type];
}

int var_type_parse(const char *s) {
    for (size_t i = 0; s != NULL && i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (strcmp(s, type_names[i]) == 0) return (int)i;
    return -1;
}

const char *on_failure_name(int f) { return f == ON_FAILURE_CONTINUE ? "continue" : "stop"; }

int on_failure_parse(const char *s) {
    if (s == NULL) return -1;
    if (strcmp(s, "stop") == 0) return ON_FAILURE_STOP;
    if (strcmp(s, "continue") == 0) return ON_FAILURE_CONTINUE;
    return -1;
}

int var_value_check(const struct var *v, const json_t *value, const char *field,
                    struct dmt_err *err) {
    if (json_is_string(value) && strstr(json_string_value(value), "${{") != NULL)
        return DMT_OK;
    switch (v->type) {
    case VAR_STRING:
    case VAR_TEXT:
        if (json_is_string(value)) return DMT_OK;
        return dmt_err_field(err, field, "must be a string (%s is of type %s)", v->name,
                             var_type_name(v->type));
    case VAR_INT:
        if (json_is_integer(value)) return DMT_OK;
        return dmt_err_field(err, field, "must be an integer (%s is of type int)", v->name);
    case VAR_BOOL:
        if (json_is_boolean(value)) return DMT_OK;
        return dmt_err_field(err, field, "must be true or false (%s is of type bool)", v->name);
    case VAR_ENUM: {
        if (json_is_string(value) && v->values != NULL) {
            size_t i;
            json_t *allowed;
            json_array_foreach(v->values, i, allowed) if (json_equal(allowed, (json_t *)value))
                return DMT_OK;
        }
        char *list = v->values ? json_dumps(v->values, JSON_COMPACT) : NULL;
        int rc = dmt_err_field(err, field, "must be one of %s", list ? list : "[]");
        free(list);
        return rc;
    }
    case VAR_JSON:
    default:
        return DMT_OK;
    }
}
