/* test_mask.c - secret masking in logs. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "exec/mask.h"

/* Feeds text to m in pieces of `step` bytes, as a task's writes would
 * arrive, carrying what masker_apply holds back; returns the result. */
static char *feed(struct masker *m, const char *text, size_t step) {
    size_t len = strlen(text), off = 0, pend = 0, total = 0;
    char *pending = malloc(len + 1), *result = malloc(len * 3 + 16);
    while (off < len || pend > 0) {
        size_t n = len - off < step ? len - off : step;
        memcpy(pending + pend, text + off, n);
        pend += n;
        off += n;
        bool final = off == len;
        size_t out_len, consumed;
        char *out = masker_apply(m, pending, pend, final, &out_len, &consumed);
        memcpy(result + total, out, out_len);
        total += out_len;
        free(out);
        memmove(pending, pending + consumed, pend - consumed);
        pend -= consumed;
        if (final) break;
    }
    result[total] = '\0';
    free(pending);
    return result;
}

Test(mask, plain_base64_json_url_and_split_writes) {
    cr_assert(sodium_init() >= 0);
    struct masker *m = masker_new();
    const char *secret = "s3cr3t/\"va lue";
    masker_add(m, secret, strlen(secret));
    char b64[64];
    sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)secret, strlen(secret),
                      sodium_base64_VARIANT_ORIGINAL);
    char text[512];
    snprintf(text, sizeof(text), "a=%s b=%s c=s3cr3t/\\\"va lue d=s3cr3t%%2F%%22va%%20lue end", secret,
             b64);
    for (size_t step = 1; step <= strlen(text); step += 3) {
        char *out = feed(m, text, step);
        cr_assert_str_eq(out, "a=*** b=*** c=*** d=*** end", "step %zu gave %s", step, out);
        free(out);
    }
    masker_free(m);
}

Test(mask, multiline_secret_each_line_and_short_ignored) {
    struct masker *m = masker_new();
    const char *key = "-----BEGIN KEY-----\nABCDEFGH\n-----END KEY-----";
    masker_add(m, key, strlen(key));
    masker_add(m, "abc", 3); /* too short: ignored */
    char *out = feed(m, "line ABCDEFGH and abc\n", 5);
    cr_assert_str_eq(out, "line *** and abc\n");
    free(out);
    masker_free(m);
}

Test(mask, empty_masker_passes_everything) {
    struct masker *m = masker_new();
    cr_assert(masker_empty(m));
    char *out = feed(m, "nothing to hide", 4);
    cr_assert_str_eq(out, "nothing to hide");
    free(out);
    masker_free(m);
}
