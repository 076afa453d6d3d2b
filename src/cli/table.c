/* table.c - aligned, human-readable tables for the CLI. */
#include "cli/table.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

struct table {
    size_t ncols;
    char **header; /* ncols cells */
    char **cells;  /* nrows * ncols cells */
    size_t nrows;
    size_t cap; /* rows allocated */
};

size_t table_text_width(const char *s) {
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80) w++;
    return w;
}

char *table_cell_text(const char *s, size_t max) {
    if (s == NULL) s = "";
    size_t n = strlen(s);
    /* Worst case: every byte becomes "\xNN" (4 bytes), plus "..." and NUL. */
    char *o = malloc(4 * n + 4);
    if (o == NULL) abort();
    size_t w = 0, chars = 0;
    const unsigned char *p = (const unsigned char *)s;
    bool cut = false;
    for (; *p; p++) {
        unsigned char ch = *p;
        bool lead = (ch & 0xC0) != 0x80;
        if (max > 0 && lead && chars >= max) {
            cut = true;
            break;
        }
        if (ch == '\n') {
            o[w++] = '\\';
            o[w++] = 'n';
            chars += 2;
        } else if (ch == '\t') {
            o[w++] = '\\';
            o[w++] = 't';
            chars += 2;
        } else if (ch == '\r') {
            o[w++] = '\\';
            o[w++] = 'r';
            chars += 2;
        } else if (ch < 0x20 || ch == 0x7F) {
            static const char hex[] = "0123456789abcdef";
            o[w++] = '\\';
            o[w++] = 'x';
            o[w++] = hex[ch >> 4];
            o[w++] = hex[ch & 15];
            chars += 4;
        } else {
            o[w++] = (char)ch;
            if (lead) chars++;
        }
    }
    if (cut) {
        /* Make room for "..." within max characters. */
        while (w > 0 && chars > (max > 3 ? max - 3 : 0)) {
            w--;
            if (((unsigned char)o[w] & 0xC0) != 0x80) chars--;
        }
        memcpy(o + w, "...", 3);
        w += 3;
    }
    o[w] = '\0';
    return o;
}

struct table *table_new(size_t ncols, ...) {
    dmt_assert(ncols > 0);
    struct table *t = calloc(1, sizeof(*t));
    if (t == NULL) abort();
    t->ncols = ncols;
    t->header = calloc(ncols, sizeof(char *));
    if (t->header == NULL) abort();
    va_list ap;
    va_start(ap, ncols);
    for (size_t i = 0; i < ncols; i++)
        t->header[i] = table_cell_text(va_arg(ap, const char *), 0);
    va_end(ap);
    return t;
}

struct table *table_new_v(size_t ncols, const char *const *headers) {
    dmt_assert(ncols > 0);
    struct table *t = calloc(1, sizeof(*t));
    if (t == NULL) abort();
    t->ncols = ncols;
    t->header = calloc(ncols, sizeof(char *));
    if (t->header == NULL) abort();
    for (size_t i = 0; i < ncols; i++)
        t->header[i] = table_cell_text(headers[i], 0);
    return t;
}

void table_add_row(struct table *t, const char *const *cells) {
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, cap * t->ncols * sizeof(char *));
        if (c == NULL) abort();
        t->cells = c;
        t->cap = cap;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++)
        row[i] = table_cell_text(cells[i], 0);
    t->nrows++;
}

void table_add(struct table *t, ...) {
    const char **cells = calloc(t->ncols, sizeof(char *));
    if (cells == NULL) abort();
    va_list ap;
    va_start(ap, t);
    for (size_t i = 0; i < t->ncols; i++)
        cells[i] = va_arg(ap, const char *);
    va_end(ap);
    table_add_row(t, cells);
    free(cells);
}

size_t table_rows(const struct table *t) { return t->nrows; }

static void print_line(const struct table *t, char *const *row, const size_t *width, FILE *f,
                       int indent) {
    /* Trailing empty cells would only leave trailing spaces. */
    size_t last = t->ncols;
    while (last > 1 && row[last - 1][0] == '\0')
        last--;
    fprintf(f, "%*s", indent, "");
    for (size_t i = 0; i < last; i++) {
        fputs(row[i], f);
        if (i + 1 < last) {
            size_t pad = width[i] - table_text_width(row[i]) + 2;
            for (size_t k = 0; k < pad; k++)
                fputc(' ', f);
        }
    }
    fputc('\n', f);
}

void table_print_indent(const struct table *t, FILE *f, int indent) {
    size_t *width = calloc(t->ncols, sizeof(size_t));
    if (width == NULL) abort();
    for (size_t i = 0; i < t->ncols; i++)
        width[i] = table_text_width(t->header[i]);
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t i = 0; i < t->ncols; i++) {
            size_t w = table_text_width(t->cells[r * t->ncols + i]);
            if (w > width[i]) width[i] = w;
        }
    print_line(t, t->header, width, f, indent);
    for (size_t r = 0; r < t->nrows; r++)
        print_line(t, t->cells + r * t->ncols, width, f, indent);
    free(width);
}

void table_print(const struct table *t, FILE *f) { table_print_indent(t, f, 0); }

void table_free(struct table *t) {
    if (t == NULL) return;
    for (size_t i = 0; i < t->ncols; i++)
        free(t->header[i]);
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->header);
    free(t->cells);
    free(t);
}
