/*
 * edit.h - the changes to jobs, tasks, variables, overrides and
 * environments that keep the model's rules: positions stay 1..N as objects
 * are added, moved and removed; a task comes with one variable per entry of
 * its plugin's schema; values fit their variable's type; a change to a
 * child bumps the version of what contains it (its ETag changes too).
 *
 * Every function runs inside the caller's transaction (store_tx), borrows
 * its arguments and fills the given structs' meta on success.
 */
#ifndef DMT_EDIT_H
#define DMT_EDIT_H

#include "model/model.h"
#include "store/store.h"

/* Inserts e at position want (1..n+1; 0 or past the end: last). */
int model_env_create(struct store *s, struct env *e, int64_t want, struct dmt_err *err);
/* Writes e; when e->position differs from old_pos, moves it there. */
int model_env_update(struct store *s, struct env *e, int old_pos, struct dmt_err *err);
int model_env_delete(struct store *s, const struct env *e, struct dmt_err *err);

/*
 * Inserts t into job at position want (as above) with its plugin's
 * variables, their defaults replaced by those in `values` ({"NAME": value},
 * may be NULL). Unknown plugin, unknown variable names and wrongly typed
 * values are field errors (DMT_ERR_INVALID).
 */
int model_task_create(struct store *s, const struct job *job, struct task *t, json_t *values,
                      struct dmt_err *err);
int model_task_update(struct store *s, const struct job *job, struct task *t, int old_pos,
                      struct dmt_err *err);
int model_task_delete(struct store *s, const struct job *job, const struct task *t,
                      struct dmt_err *err);

/* A custom variable of t; v->value, if set, must fit v->type. */
int model_var_create(struct store *s, const struct task *t, struct var *v, struct dmt_err *err);
/* Writes v's value and description (value checked against its type). */
int model_var_update(struct store *s, const struct task *t, struct var *v, struct dmt_err *err);
/* Only custom variables can be deleted. */
int model_var_delete(struct store *s, const struct task *t, const struct var *v,
                     struct dmt_err *err);

/* Sets the override of v for env to value (checked); *created tells
 * whether it is new. out receives the stored override. */
int model_override_put(struct store *s, const struct task *t, const struct var *v,
                       const struct env *env, json_t *value, struct override *out, bool *created,
                       struct dmt_err *err);
int model_override_delete(struct store *s, const struct task *t, const struct var *v,
                          const struct override *o, struct dmt_err *err);

#endif
