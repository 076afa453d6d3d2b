/* auth.h - who is asking: bearer tokens, web sessions, first-start admin. */
#ifndef DMT_AUTH_H
#define DMT_AUTH_H

#include <stdbool.h>

#include "core/status.h"
#include "store/store.h"

struct req;

/* The session cookie's name. */
#define AUTH_COOKIE "dmt_session"
/* How long a web session lives (seconds). */
#define AUTH_SESSION_TTL (12 * 3600)
/* Failed logins in a row that lock an account, and for how long. */
#define AUTH_MAX_FAILURES 10
#define AUTH_LOCK_S       (15 * 60)
/* How long a failed login waits before it is answered (ms). */
#define AUTH_FAIL_DELAY_MS 1000
/* argon2id cost (libsodium): 2 passes, 19 MiB. */
#define AUTH_PW_OPSLIMIT 2
#define AUTH_PW_MEMLIMIT (19u << 20)

/*
 * Authenticates r: an `Authorization: Bearer` token, else the session
 * cookie. On success fills r->user_id, user_name, role (and via_cookie,
 * session_id, csrf_hash for a session) and returns DMT_OK. Returns
 * DMT_ERR_UNAUTHORIZED with a message when the credentials are bad or
 * absent (*present tells which).
 */
int auth_check(struct req *r, bool *present);

/* Whether r carries the X-CSRF-Token of its session (constant time). */
bool auth_csrf_ok(struct req *r);

/* The stored form of a token: hex of BLAKE2b-256 (64 chars + NUL). */
void auth_token_hash(const char *token, char out[65]);

/* A new random secret (32 bytes, base64url without padding) in out. */
void auth_random_token(char out[48]);

/* The argon2id string of password into out (crypto_pwhash_STRBYTES). */
int auth_password_hash(const char *password, char *out, size_t len, struct dmt_err *err);

/* Verifies password against hash (NULL: against a dummy, so that an
 * unknown user costs the same time); false when it does not match. */
bool auth_password_ok(const char *hash, const char *password);

/*
 * First start (DESIGN.md §7): creates the user `admin` when it does not
 * exist, with DMT_ADMIN_PASSWORD or a random password that is printed once
 * on stderr; stores DMT_ADMIN_TOKEN as an admin token when no token with
 * that value exists yet. Either may be NULL.
 */
int auth_bootstrap(struct store *s, const char *admin_password, const char *admin_token,
                   struct dmt_err *err);

#endif
