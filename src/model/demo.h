/* demo.h - the small demo a newcomer sees on a new database (--demo). */
#ifndef DMT_DEMO_H
#define DMT_DEMO_H

#include "store/store.h"

/* Creates environments dev, staging and prod and a job `hello` with one
 * shell task and a prod override, once: only when the database has no
 * environment and no job and the demo was never created before.
 * *created tells whether it did. */
int model_demo_create(struct store *s, bool *created, struct dmt_err *err);

#endif
