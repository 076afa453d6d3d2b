/*
 * sotest.c - a shared-object test plugin: prints the variable `value` and
 * records it as the output `echo`. With `fail` true it returns 3 instead.
 */
#include <dmt/plugin.h>
#include <stdio.h>
#include <string.h>

static const struct dmt_plugin_var vars[] = {
    {.name = "value", .type = "string", .required = 1, .description = "What to echo."},
    {.name = "fail",
     .type = "bool",
     .default_json = "false",
     .description = "Exit with status 3 after echoing."},
    {.name = "key", .type = "string", .secret = 1, .description = "A secret, never printed."},
};

static int run(const struct dmt_plugin_ctx *ctx) {
    const char *value = ctx->get(ctx, "value");
    const char *fail = ctx->get(ctx, "fail");
    printf("sotest: value=%s\n", value ? value : "(none)");
    if (ctx->output(ctx, "echo", value ? value : "") != 0) {
        perror("sotest: output");
        return 1;
    }
    return fail != NULL && strcmp(fail, "true") == 0 ? 3 : 0;
}

DMT_PLUGIN_EXPORT const struct dmt_plugin dmt_plugin = {
    .abi = DMT_PLUGIN_ABI,
    .name = "sotest",
    .version = "0.1.0",
    .summary = "Test plugin: echoes value as the output echo.",
    .vars = vars,
    .nvars = sizeof(vars) / sizeof(vars[0]),
    .run = run,
};
