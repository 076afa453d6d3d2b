/* mask.c - secret masking in logs (see mask.h). */
#include "exec/mask.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SECRET 4

struct pattern {
    char *s;
    size_t len;
};

struct masker {
    struct pattern *p;
    size_t n;
    bool first[256]; /* bytes some pattern starts with: the quick skip */
};

struct masker *masker_new(void) {
    struct masker *m = calloc(1, sizeof(*m));
    if (m == NULL) abort();
    return m;
}

void masker_free(struct masker *m) {
    if (m == NULL) return;
    for (size_t i = 0; i < m->n; i++) free(m->p[i].s);
    free(m->p);
    free(m);
}

bool masker_empty(const struct masker *m) { return m == NULL || m->n == 0; }

/* Adds one pattern (a copy), unless too short or already there. */
static void add(struct masker *m, const char *s, size_t len) {
    if (len < MIN_SECRET) return;
    for (size_t i = 0; i < m->n; i++)
        if (m->p[i].len == len && memcmp(m->p[i].s, s, len) == 0) return;
    struct pattern *p = realloc(m->p, (m->n + 1) * sizeof(*p));
    if (p == NULL) abort();
    m->p = p;
    p[m->n].s = malloc(len);
    if (p[m->n].s == NULL) abort();
    memcpy(p[m->n].s, s, len);
    p[m->n].len = len;
    m->n++;
    m->first[(unsigned char)s[0]] = true;
}

static void add_base64(struct masker *m, const char *s, size_t len) {
    static const int variants[] = {sodium_base64_VARIANT_ORIGINAL,
                                   sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                                   sodium_base64_VARIANT_URLSAFE,
                                   sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
        size_t cap = sodium_base64_ENCODED_LEN(len, variants[v]);
        char *b = malloc(cap);
        if (b == NULL) abort();
        sodium_bin2base64(b, cap, (const unsigned char *)s, len, variants[v]);
        add(m, b, strlen(b));
        free(b);
    }
}

static void add_url(struct masker *m, const char *s, size_t len) {
    static const char hex[] = "0123456789ABCDEF";
    char *u = malloc(len * 3 + 1), *o = u;
    if (u == NULL) abort();
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    add(m, u, (size_t)(o - u));
    free(u);
}

static void add_json(struct masker *m, const char *s, size_t len) {
    /* Each byte becomes at most 6 ("\u001f"). */
    char *j = malloc(len * 6 + 1), *o = j;
    if (j == NULL) abort();
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': *o++ = '\\'; *o++ = '"'; break;
        case '\\': *o++ = '\\'; *o++ = '\\'; break;
        case '\n': *o++ = '\\'; *o++ = 'n'; break;
        case '\r': *o++ = '\\'; *o++ = 'r'; break;
        case '\t': *o++ = '\\'; *o++ = 't'; break;
        case '/': *o++ = '/'; break;
        default:
            if (c < 0x20) o += sprintf(o, "\\u%04x", c);
            else *o++ = (char)c;
        }
    }
    add(m, j, (size_t)(o - j));
    free(j);
}

void masker_add(struct masker *m, const char *secret, size_t len) {
    if (len < MIN_SECRET) return;
    add(m, secret, len);
    add_base64(m, secret, len);
    add_url(m, secret, len);
    add_json(m, secret, len);
    /* Each line of a multi-line secret, on its own. */
    const char *p = secret, *end = secret + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (l < len) {
            size_t trimmed = l;
            if (trimmed > 0 && p[trimmed - 1] == '\r') trimmed--;
            add(m, p, trimmed);
        }
        p += l + 1;
    }
}

/* The longest pattern that matches at buf (len bytes available), or 0.
 * *partial is set when some pattern could still match if more data came. */
static size_t match_at(const struct masker *m, const char *buf, size_t len, bool *partial) {
    size_t best = 0;
    for (size_t i = 0; i < m->n; i++) {
        const struct pattern *p = &m->p[i];
        if (p->len <= len) {
            if (p->len > best && memcmp(buf, p->s, p->len) == 0) best = p->len;
        } else if (memcmp(buf, p->s, len) == 0) {
            *partial = true;
        }
    }
    return best;
}

char *masker_apply(const struct masker *m, const char *buf, size_t len, bool final,
                   size_t *out_len, size_t *consumed) {
    char *out = malloc(len + 1), *o = out;
    if (out == NULL) abort();
    size_t i = 0;
    if (masker_empty(m)) {
        memcpy(out, buf, len);
        *out_len = *consumed = len;
        return out;
    }
    while (i < len) {
        if (!m->first[(unsigned char)buf[i]]) {
            *o++ = buf[i++];
            continue;
        }
        bool partial = false;
        size_t hit = match_at(m, buf + i, len - i, &partial);
        if (!final && partial) break; /* could be a secret cut in two: wait for more */
        if (hit > 0) {
            /* "***" is never longer than a pattern (patterns have 4+ bytes). */
            memcpy(o, "***", 3);
            o += 3;
            i += hit;
        } else {
            *o++ = buf[i++];
        }
    }
    *out_len = (size_t)(o - out);
    *consumed = i;
    return out;
}
