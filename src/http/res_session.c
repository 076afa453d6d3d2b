/*
 * res_session.c - /api/v1/session: the web login (DESIGN.md §7).
 *
 * POST checks the password (argon2id) outside any transaction, then
 * records the outcome: a good login resets the failure count and creates a
 * new session (a fresh random id each time, stored as a hash, with its own
 * CSRF token); a bad one counts, locks the account after
 * AUTH_MAX_FAILURES in a row, and is answered only after
 * AUTH_FAIL_DELAY_MS without holding a server thread. An unknown user is
 * answered like a wrong password.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "http/auth.h"
#include "http/http.h"

int res_session_get(struct req *r) {
    json_t *body = json_pack("{s:s, s:s, s:s}", "user", r->user_name, "role", role_name(r->role),
                             "via", r->via_cookie ? "session" : "token");
    return reply_json(r, 200, body, NULL);
}

struct login {
    const char *user, *password;
    struct user u;
    bool found;
    int64_t now;
    bool ok;     /* the password matched */
    int outcome; /* DMT_OK, DMT_ERR_UNAUTHORIZED or DMT_ERR_LOCKED */
    char sid[48], csrf[48];
};

static int read_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct login *l = arg;
    user_cleanup(&l->u);
    int rc = s->ops->user_get(s->ctx, l->user, &l->u, NULL);
    l->found = rc == DMT_OK;
    return rc == DMT_ERR_NOT_FOUND ? DMT_OK : rc;
}

static int record_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct login *l = arg;
    struct user u = {0};
    int rc = s->ops->user_get(s->ctx, l->user, &u, err);
    if (rc != DMT_OK) return rc;
    if (u.locked_until > l->now) {
        l->outcome = DMT_ERR_LOCKED;
    } else if (!l->ok) {
        l->outcome = DMT_ERR_UNAUTHORIZED;
        u.failed_logins++;
        if (u.failed_logins >= AUTH_MAX_FAILURES) {
            u.locked_until = l->now + AUTH_LOCK_S;
            u.failed_logins = 0;
        }
        rc = s->ops->user_update(s->ctx, &u, err);
    } else {
        l->outcome = DMT_OK;
        if (u.failed_logins != 0 || u.locked_until != 0) {
            u.failed_logins = 0;
            u.locked_until = 0;
            rc = s->ops->user_update(s->ctx, &u, err);
        }
        if (rc == DMT_OK) rc = s->ops->session_purge(s->ctx, l->now, err);
        if (rc == DMT_OK) {
            char h[65], ch[65];
            auth_random_token(l->sid);
            auth_random_token(l->csrf);
            auth_token_hash(l->sid, h);
            auth_token_hash(l->csrf, ch);
            struct session ss = {.hash = h, .user_id = u.m.id, .csrf_hash = ch,
                                 .expires_at = l->now + AUTH_SESSION_TTL};
            rc = s->ops->session_insert(s->ctx, &ss, err);
        }
    }
    user_cleanup(&u);
    return rc;
}

struct audit_login {
    struct req *r;
    const char *user;
    const char *action;
};

static int audit_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct audit_login *a = arg;
    return audit_write(s, a->r, a->action, "session", a->user, NULL, err);
}

int res_session_create(struct req *r) {
    struct login l = {0};
    const struct spec specs[] = {
        {"user", SPEC_STRING, true, &l.user, NULL, 0, 0},
        {"password", SPEC_STRING, true, &l.password, NULL, 0, 0},
        {NULL, 0, false, NULL, NULL, 0, 0},
    };
    int rc = spec_parse(r, specs);
    if (rc != DMT_OK) return rc;
    l.now = (int64_t)time(NULL);
    rc = store_tx(r->store, false, read_tx, &l, &r->err);
    if (rc != DMT_OK) goto out;
    if (l.found && l.u.locked_until > l.now) {
        l.outcome = DMT_ERR_LOCKED;
    } else {
        /* The expensive check runs outside any transaction. */
        l.ok = auth_password_ok(l.found ? l.u.password_hash : NULL, l.password);
        if (l.found) {
            rc = store_tx(r->store, true, record_tx, &l, &r->err);
            if (rc != DMT_OK) goto out;
        } else {
            l.outcome = DMT_ERR_UNAUTHORIZED;
        }
    }
    /* Who logged in, or tried to (the user name only, never the password). */
    snprintf(r->user_name, sizeof(r->user_name), "%s", l.outcome == DMT_OK ? l.u.name : "-");
    struct audit_login al = {r, l.user,
                             l.outcome == DMT_OK          ? "login"
                             : l.outcome == DMT_ERR_LOCKED ? "login_locked"
                                                           : "login_failed"};
    if (name_is_slug(l.user)) (void)store_tx(r->store, true, audit_tx, &al, NULL);
    if (l.outcome == DMT_ERR_LOCKED) {
        /* The lock of a known user ends at locked_until; one that locked
         * just now (record_tx) for the whole period. */
        int64_t until = l.found && l.u.locked_until > l.now ? l.u.locked_until
                                                             : l.now + AUTH_LOCK_S;
        r->extra_header = "Retry-After";
        snprintf(r->extra_value, sizeof(r->extra_value), "%lld", (long long)(until - l.now));
        rc = dmt_err_set(&r->err, DMT_ERR_LOCKED,
                         "this account is locked for a while after %d failed logins in a row; "
                         "try again later",
                         AUTH_MAX_FAILURES);
        goto out;
    }
    if (l.outcome != DMT_OK) {
        dmt_err_set(&r->err, DMT_ERR_UNAUTHORIZED, "wrong user name or password");
        rc = reply_problem_later(r, DMT_ERR_UNAUTHORIZED, AUTH_FAIL_DELAY_MS);
        goto out;
    }
    json_t *body = json_pack("{s:s, s:s, s:s}", "user", l.u.name, "role", l.u.role, "csrf_token",
                             l.csrf);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct MHD_Response *resp =
        text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE) : NULL;
    if (resp == NULL) {
        free(text);
        rc = dmt_err_set(&r->err, DMT_ERR_NOMEM, "cannot build a response");
        goto out;
    }
    char cookie[256];
    snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s",
             AUTH_COOKIE, l.sid, AUTH_SESSION_TTL, req_is_tls(r) ? "; Secure" : "");
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Set-Cookie", cookie);
    rc = reply_response(r, 200, resp);
out:
    sodium_memzero(l.sid, sizeof(l.sid));
    sodium_memzero(l.csrf, sizeof(l.csrf));
    user_cleanup(&l.u);
    return rc;
}

static int delete_tx(struct store *s, void *arg, struct dmt_err *err) {
    struct op *op = arg;
    int rc = DMT_OK;
    if (op->r->session_id != 0) rc = s->ops->session_delete(s->ctx, op->r->session_id, err);
    if (rc == DMT_ERR_NOT_FOUND) rc = DMT_OK;
    if (rc == DMT_OK) op_answer(op, 204, NULL, NULL, NULL);
    return rc;
}

int res_session_delete(struct req *r) {
    /* The browser forgets the cookie too (with the session's own attributes,
     * so it replaces that very cookie). */
    r->extra_header = "Set-Cookie";
    snprintf(r->extra_value, sizeof(r->extra_value),
             "%s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s", AUTH_COOKIE,
             req_is_tls(r) ? "; Secure" : "");
    int rc = op_run(r, true, delete_tx, NULL);
    if (rc != DMT_OK) r->extra_header = NULL;
    return rc;
}
