/*
 * secrets.h - secret values in the model (DESIGN.md §7): sealed when they
 * are written, opened only where a task needs them, re-sealed when the
 * master key changes. The crypto itself is core/seal.h.
 */
#ifndef DMT_SECRETS_H
#define DMT_SECRETS_H

#include "model/resolve.h"
#include "store/store.h"

/* The shortest secret accepted: shorter ones would mask too much of a log. */
#define SECRET_MIN_LEN 4

/* Refuses (a field error under `field`, DMT_ERR_INVALID) a secret value
 * whose text is shorter than SECRET_MIN_LEN characters. */
int secret_check_len(const json_t *value, const char *field, struct dmt_err *err);

/*
 * Replaces every sealed value of the view's secret variables (defaults and
 * overrides) by its clear value, under the process key, in memory. Called
 * by the executor for the task it is about to start, and by preflight (the
 * plan, run creation) so that values derived from secrets are type-checked;
 * their answers show secrets masked and snapshots keep them by reference.
 * DMT_ERR_CRYPTO when one does not open.
 */
int secrets_open_view(struct job_view *v, struct dmt_err *err);

/*
 * Re-seals every secret value of the store (inside the caller's write
 * transaction): a value sealed under old_key (NULL: the process key) is
 * opened and sealed again under new_key (NULL: the process key); a value
 * still in clear (a database from before sealing) is sealed. *count gets
 * the number of values written.
 */
int secrets_reseal_all(struct store *s, const unsigned char *old_key, const unsigned char *new_key,
                       int *count, struct dmt_err *err);

/*
 * At start: checks key against the key check value kept in the store (kv
 * "master_key_check"; written when absent), then seals every secret still
 * stored in clear. A key that does not match fails with DMT_ERR_CONFIG.
 * Runs its own transaction.
 */
int secrets_start(struct store *s, const unsigned char *key, struct dmt_err *err);

/* After a rotation: stores the check value of new_key (inside the
 * caller's transaction). */
int secrets_set_check(struct store *s, const unsigned char *new_key, struct dmt_err *err);

#endif
