/*
 * mask.h - replacing secret values by "***" in task output (DESIGN.md §5).
 *
 * A masker holds the patterns of one run: every secret value it uses and,
 * for each, its base64, URL-encoded and JSON-escaped forms and each line
 * of a multi-line value. Output arrives in pieces, and a secret may be
 * split across two writes, so masker_apply holds back the tail of a piece
 * that could be the start of a pattern, until more data or the end comes.
 */
#ifndef DMT_MASK_H
#define DMT_MASK_H

#include <stdbool.h>
#include <stddef.h>

struct masker;

struct masker *masker_new(void);
void masker_free(struct masker *m);

/* Adds a secret and its forms. Values shorter than 4 bytes are ignored
 * (they would mask everything). */
void masker_add(struct masker *m, const char *secret, size_t len);

/* True when there is nothing to mask. */
bool masker_empty(const struct masker *m);

/*
 * Masks buf[0..len). Returns a malloc'd buffer (caller frees) of *out_len
 * bytes: the masked form of buf's first *consumed bytes. Unless final, the
 * last bytes that could begin a pattern are not consumed; the caller keeps
 * them and passes them again, followed by what arrives next.
 */
char *masker_apply(const struct masker *m, const char *buf, size_t len, bool final,
                   size_t *out_len, size_t *consumed);

#endif
