/* auth.h - who is asking: bearer tokens and the first-start bootstrap. */
#ifndef DMT_AUTH_H
#define DMT_AUTH_H

#include "core/status.h"
#include "store/store.h"

struct req;

/* Authenticates r from its Authorization header: a valid bearer token sets
 * r->user_id; a malformed or unknown one fails with DMT_ERR_UNAUTHORIZED.
 * No header is accepted as anonymous in this slice (the security issue
 * makes it required). */
int auth_check(struct req *r);

/* The stored form of a token: hex of BLAKE2b-256 (64 chars + NUL). */
void auth_token_hash(const char *token, char out[65]);

/*
 * First start (DESIGN.md §7): creates the user `admin` when it does not
 * exist, with DMT_ADMIN_PASSWORD or a random password that is printed once
 * on stderr; stores DMT_ADMIN_TOKEN as an admin token when no token with
 * that value exists yet. Either may be NULL.
 */
int auth_bootstrap(struct store *s, const char *admin_password, const char *admin_token,
                   struct dmt_err *err);

#endif
