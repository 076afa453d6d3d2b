/*
 * table.h - aligned, human-readable tables for the CLI.
 *
 *   struct table *t = table_new(3, "NAME", "POSITION", "DESCRIPTION");
 *   table_add(t, "prod", "3", "production");
 *   table_print(t, stdout);
 *   table_free(t);
 *
 * Columns are separated by two spaces and padded to the widest cell
 * (counted in UTF-8 characters); the last column is not padded. Cells are
 * copied, with control characters (newlines, tabs, escapes) shown as
 * "\n", "\t" or "\xNN" so one row stays one line.
 */
#ifndef DMT_CLI_TABLE_H
#define DMT_CLI_TABLE_H

#include <stddef.h>
#include <stdio.h>

struct table;

/* Creates a table of ncols columns with the given headers (ncols strings,
 * copied). The caller frees it with table_free. Aborts when out of memory. */
struct table *table_new(size_t ncols, ...);

/* Creates a table of ncols columns whose headers are the ncols strings of
 * headers (copied). The caller frees it with table_free. */
struct table *table_new_v(size_t ncols, const char *const *headers);

/* Appends one row of exactly the table's ncols strings (copied; NULL shows
 * as an empty cell). */
void table_add(struct table *t, ...);

/* Appends one row from an array of ncols strings (copied). */
void table_add_row(struct table *t, const char *const *cells);

/* Number of rows added so far (headers excluded). */
size_t table_rows(const struct table *t);

/* Writes the table, headers first, each line prefixed by indent spaces. */
void table_print_indent(const struct table *t, FILE *f, int indent);
void table_print(const struct table *t, FILE *f);

/* Frees t; table_free(NULL) does nothing. */
void table_free(struct table *t);

/* Returns a copy of s, made printable on one line as table cells are, and
 * cut to at most max characters (with "..." at the end) when max > 0.
 * The caller frees it. */
char *table_cell_text(const char *s, size_t max);

/* The display width of s in UTF-8 characters. */
size_t table_text_width(const char *s);

#endif
