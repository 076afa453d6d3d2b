/* test_names.c - name rules, type names and value type checks (names.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "model/model.h"

static char *repeat(char c, size_t n) {
    static char buf[256];
    cr_assert_lt(n, sizeof(buf));
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

Test(names, good_slugs) {
    const char *good[] = {"a", "0", "prod", "db-migrate", "v1.2_rc", "a-", "9lives", "x.y.z"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert(name_is_slug(good[i]), "'%s' should be a slug", good[i]);
    cr_assert(name_is_slug(repeat('a', 63)), "63 characters are allowed");
}

Test(names, bad_slugs) {
    const char *bad[] = {"",    "-prod", "_x",   ".x",  "Prod", "prOd", "pro d",
                         "a/b", "é",     "a\tb", "a:b", "A",    "a$",   "a+b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(name_is_slug(bad[i]), "'%s' should not be a slug", bad[i]);
    cr_assert_not(name_is_slug(NULL));
    cr_assert_not(name_is_slug(repeat('a', 64)), "64 characters are too many");
}

Test(names, good_var_names) {
    const char *good[] = {"a", "A", "_", "_x", "DB_URL", "x9", "camelCase", "__"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert(name_is_var(good[i]), "'%s' should be a variable name", good[i]);
    cr_assert(name_is_var(repeat('V', 64)), "64 characters are allowed");
}

Test(names, bad_var_names) {
    const char *bad[] = {"", "9x", "-x", "a-b", "a.b", "a b", "é", "x$", "a=b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(name_is_var(bad[i]), "'%s' should not be a variable name", bad[i]);
    cr_assert_not(name_is_var(NULL));
    cr_assert_not(name_is_var(repeat('V', 65)), "65 characters are too many");
}

Test(names, var_types_round_trip) {
    const char *names[] = {"string", "text", "int", "bool", "enum", "json"};
    int types[] = {VAR_STRING, VAR_TEXT, VAR_INT, VAR_BOOL, VAR_ENUM, VAR_JSON};
    for (size_t i = 0; i < 6; i++) {
        cr_assert_eq(var_type_parse(names[i]), types[i], "%s", names[i]);
        cr_assert_str_eq(var_type_name(types[i]), names[i]);
    }
    cr_assert_eq(var_type_parse("String"), -1);
    cr_assert_eq(var_type_parse("integer"), -1);
    cr_assert_eq(var_type_parse(""), -1);
    cr_assert_eq(var_type_parse(NULL), -1);
}

Test(names, on_failure_names) {
    cr_assert_eq(on_failure_parse("stop"), ON_FAILURE_STOP);
    cr_assert_eq(on_failure_parse("continue"), ON_FAILURE_CONTINUE);
    cr_assert_eq(on_failure_parse("abort"), -1);
    cr_assert_eq(on_failure_parse(NULL), -1);
    cr_assert_str_eq(on_failure_name(ON_FAILURE_CONTINUE), "continue");
    cr_assert_str_eq(on_failure_name(ON_FAILURE_STOP), "stop");
}

/* Checks value against a variable of type `type`; true when it fits. The
 * value is consumed. */
static bool fits(int type, json_t *values, json_t *value) {
    struct var v = {0};
    struct dmt_err err;
    dmt_err_init(&err);
    v.name = "X";
    v.type = type;
    v.values = values;
    int rc = var_value_check(&v, value, "value", &err);
    if (rc == DMT_OK) {
        cr_assert_eq(err.code, DMT_OK);
        cr_assert_null(err.fields);
    } else {
        cr_assert_eq(rc, DMT_ERR_INVALID);
        cr_assert_eq(err.code, DMT_ERR_INVALID);
        cr_assert_eq(json_array_size(err.fields), 1);
        json_t *f = json_array_get(err.fields, 0);
        cr_assert_str_eq(json_string_value(json_object_get(f, "field")), "value");
        cr_assert_not_null(json_string_value(json_object_get(f, "message")));
    }
    dmt_err_cleanup(&err);
    json_decref(value);
    return rc == DMT_OK;
}

Test(names, value_checks_string_and_text) {
    cr_assert(fits(VAR_STRING, NULL, json_string("hello")));
    cr_assert(fits(VAR_TEXT, NULL, json_string("line 1\nline 2")));
    cr_assert_not(fits(VAR_STRING, NULL, json_integer(1)));
    cr_assert_not(fits(VAR_TEXT, NULL, json_true()));
    cr_assert_not(fits(VAR_STRING, NULL, json_null()));
}

Test(names, value_checks_int_and_bool) {
    cr_assert(fits(VAR_INT, NULL, json_integer(-3)));
    cr_assert_not(fits(VAR_INT, NULL, json_real(1.5)));
    cr_assert_not(fits(VAR_INT, NULL, json_string("3")));
    cr_assert(fits(VAR_BOOL, NULL, json_true()));
    cr_assert(fits(VAR_BOOL, NULL, json_false()));
    cr_assert_not(fits(VAR_BOOL, NULL, json_integer(1)));
    cr_assert_not(fits(VAR_BOOL, NULL, json_string("true")));
}

Test(names, value_checks_enum) {
    json_t *values = json_pack("[ss]", "low", "high");
    cr_assert(fits(VAR_ENUM, values, json_string("low")));
    cr_assert(fits(VAR_ENUM, values, json_string("high")));
    cr_assert_not(fits(VAR_ENUM, values, json_string("medium")));
    cr_assert_not(fits(VAR_ENUM, values, json_integer(1)));
    cr_assert_not(fits(VAR_ENUM, NULL, json_string("low")), "no allowed values");
    json_decref(values);
}

Test(names, value_checks_json_and_references) {
    cr_assert(fits(VAR_JSON, NULL, json_pack("{s:[i]}", "a", 1)));
    cr_assert(fits(VAR_JSON, NULL, json_null()));
    /* A reference is accepted for every type; it is checked after resolution. */
    cr_assert(fits(VAR_INT, NULL, json_string("${{ vars.COUNT }}")));
    cr_assert(fits(VAR_BOOL, NULL, json_string("${{ env.name }}")));
    json_t *values = json_pack("[s]", "a");
    cr_assert(fits(VAR_ENUM, values, json_string("${{ vars.X }}")));
    json_decref(values);
}

Test(names, value_check_message_names_the_variable) {
    struct var v = {0};
    struct dmt_err err;
    dmt_err_init(&err);
    v.name = "PORT";
    v.type = VAR_INT;
    json_t *bad = json_string("eighty");
    cr_assert_eq(var_value_check(&v, bad, "variables.PORT", &err), DMT_ERR_INVALID);
    json_t *f = json_array_get(err.fields, 0);
    cr_assert_str_eq(json_string_value(json_object_get(f, "field")), "variables.PORT");
    cr_assert_not_null(strstr(json_string_value(json_object_get(f, "message")), "PORT"));
    json_decref(bad);
    dmt_err_cleanup(&err);
}
