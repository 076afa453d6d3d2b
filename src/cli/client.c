/* client.c - the CLI's HTTP client of the dmt REST API. */
#include "cli/client.h"

#include "cli/curl_dl.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define DEFAULT_URL "http://127.0.0.1:8080"
#define API_PREFIX  "/api/v1"
#define MAX_PAGES   10000

struct client {
    CURL *curl;
    char *base; /* DMT_URL without a trailing slash */
    char *api;  /* base + "/api/v1" */
    char *auth; /* "Authorization: Bearer ..." or NULL */
};

/* A response body being received; bounded by CLIENT_MAX_BODY. */
struct buf {
    char *data;
    size_t len;
    size_t cap;
    int too_large;
};

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (q == NULL) abort();
    return q;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) abort();
    return s;
}

struct client *client_new(void) {
    CURL *curl = curl_easy_init();
    if (curl == NULL) return NULL;
    struct client *c = calloc(1, sizeof(*c));
    if (c == NULL) abort();
    c->curl = curl;
    const char *url = getenv("DMT_URL");
    if (url == NULL || *url == '\0') url = DEFAULT_URL;
    c->base = util_strdup(url);
    size_t n = strlen(c->base);
    while (n > 0 && c->base[n - 1] == '/')
        c->base[--n] = '\0';
    /* Accept DMT_URL given with or without the API prefix. */
    size_t pl = strlen(API_PREFIX);
    if (n >= pl && strcmp(c->base + n - pl, API_PREFIX) == 0) {
        c->api = util_strdup(c->base);
        c->base[n - pl] = '\0';
    } else {
        c->api = xasprintf("%s%s", c->base, API_PREFIX);
    }
    const char *token = getenv("DMT_TOKEN");
    if (token != NULL && *token != '\0') c->auth = xasprintf("Authorization: Bearer %s", token);
    return c;
}

void client_free(struct client *c) {
    if (c == NULL) return;
    curl_easy_cleanup(c->curl);
    free(c->base);
    free(c->api);
    if (c->auth != NULL) {
        /* The token is a credential: do not leave it in freed memory. */
        memset(c->auth, 0, strlen(c->auth));
        free(c->auth);
    }
    free(c);
}

void client_curl_tls(void *curl) {
    const char *ca = getenv("DMT_CACERT");
    if (ca != NULL && *ca != '\0') curl_easy_setopt(curl, CURLOPT_CAINFO, ca);
    const char *insecure = getenv("DMT_INSECURE");
    if (insecure != NULL && strcmp(insecure, "1") == 0) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

const char *client_base_url(const struct client *c) { return c->base; }

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata) {
    struct buf *b = userdata;
    size_t n = size * nmemb;
    if (n > CLIENT_MAX_BODY - b->len) {
        b->too_large = 1;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > CLIENT_MAX_BODY + 1) cap = CLIENT_MAX_BODY + 1;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static int code_for_http(long status) {
    switch (status) {
    case 400:
        return DMT_ERR_BAD_JSON;
    case 401:
        return DMT_ERR_UNAUTHORIZED;
    case 403:
        return DMT_ERR_FORBIDDEN;
    case 404:
        return DMT_ERR_NOT_FOUND;
    case 405:
        return DMT_ERR_METHOD;
    case 409:
        return DMT_ERR_CONFLICT;
    case 412:
        return DMT_ERR_PRECONDITION;
    case 413:
        return DMT_ERR_TOO_LARGE;
    case 415:
        return DMT_ERR_UNSUPPORTED;
    case 422:
        return DMT_ERR_INVALID;
    case 503:
        return DMT_ERR_BUSY;
    default:
        return DMT_ERR_HTTP;
    }
}

/* Turns a non-2xx answer into err. */
static int problem_to_err(long status, const struct buf *b, struct dmt_err *err) {
    int code = code_for_http(status);
    json_t *doc = NULL;
    if (b->len > 0) doc = json_loadb(b->data, b->len, 0, NULL);
    const char *detail = NULL;
    if (json_is_object(doc)) {
        detail = json_string_value(json_object_get(doc, "detail"));
        if (detail == NULL || *detail == '\0')
            detail = json_string_value(json_object_get(doc, "title"));
        json_t *errors = json_object_get(doc, "errors");
        if (json_is_array(errors) && json_array_size(errors) > 0 && err != NULL) {
            json_decref(err->fields);
            err->fields = json_incref(errors);
        }
        if (err != NULL) {
            json_decref(err->extra);
            err->extra = json_incref(doc);
        }
    }
    if (detail != NULL && *detail != '\0') {
        dmt_err_set(err, code, "%s", detail);
    } else if (status == 401 && getenv("DMT_TOKEN") == NULL) {
        dmt_err_set(err, code, "authentication required (HTTP 401): set DMT_TOKEN");
    } else {
        dmt_err_set(err, code, "%s (HTTP %ld)", dmt_status_message(code), status);
    }
    json_decref(doc);
    if (err != NULL) err->code = code;
    return code;
}

int client_request(struct client *c, const char *method, const char *path, json_t *body,
                   long *http_status, json_t **out, struct dmt_err *err) {
    int rc = DMT_OK;
    struct buf resp = {0};
    struct curl_slist *headers = NULL;
    char *payload = NULL;
    char *url = xasprintf("%s%s", c->api, path);
    char curl_msg[CURL_ERROR_SIZE];
    curl_msg[0] = '\0';

    if (out != NULL) *out = NULL;
    if (http_status != NULL) *http_status = 0;

    CURL *h = c->curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_msg);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "dmt-cli");
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    client_curl_tls(h);

    headers = curl_slist_append(headers, "Accept: application/json, application/problem+json");
    if (c->auth != NULL) headers = curl_slist_append(headers, c->auth);
    if (body != NULL) {
        payload = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        if (payload == NULL) {
            rc = dmt_err_set(err, DMT_ERR_NOMEM, "cannot encode the request body");
            goto out;
        }
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
    }
    if (headers == NULL) abort();
    /* Without a body, curl would send POST/PUT/PATCH with no Content-Length. */
    if (body == NULL && strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    if (strcmp(method, "GET") == 0 && body == NULL)
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "POST") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        if (resp.too_large) {
            rc = dmt_err_set(err, DMT_ERR_TOO_LARGE,
                             "the server's answer to %s %s is larger than %u MiB", method, path,
                             CLIENT_MAX_BODY / (1024u * 1024u));
        } else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
                   cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_URL_MALFORMAT ||
                   cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_SSL_CONNECT_ERROR) {
            rc = dmt_err_set(err, DMT_ERR_IO, "cannot reach server at %s: %s", c->base,
                             curl_msg[0] ? curl_msg : curl_easy_strerror(cc));
        } else {
            rc = dmt_err_set(err, DMT_ERR_IO, "request to server at %s failed: %s", c->base,
                             curl_msg[0] ? curl_msg : curl_easy_strerror(cc));
        }
        goto out;
    }

    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (http_status != NULL) *http_status = status;
    if (status < 200 || status > 299) {
        rc = problem_to_err(status, &resp, err);
        goto out;
    }
    if (resp.len > 0 && status != 204) {
        json_error_t jerr;
        json_t *doc = json_loadb(resp.data, resp.len, JSON_DECODE_ANY, &jerr);
        if (doc == NULL) {
            rc = dmt_err_set(err, DMT_ERR_HTTP,
                             "unexpected answer from the server to %s %s (HTTP %ld): %s", method,
                             path, status, jerr.text);
            goto out;
        }
        if (out != NULL)
            *out = doc;
        else
            json_decref(doc);
    }

out:
    curl_slist_free_all(headers);
    free(payload);
    free(resp.data);
    free(url);
    return rc;
}

int client_get_list(struct client *c, const char *path, json_t **items, struct dmt_err *err) {
    int rc = DMT_OK;
    json_t *all = json_array();
    json_t *page = NULL;
    char *next_path = NULL;
    const char *p = path;
    if (all == NULL) abort();
    *items = NULL;
    for (int i = 0; i < MAX_PAGES; i++) {
        rc = client_request(c, "GET", p, NULL, NULL, &page, err);
        if (rc != DMT_OK) goto out;
        json_t *list = json_object_get(page, "items");
        if (!json_is_array(list)) {
            rc = dmt_err_set(err, DMT_ERR_HTTP,
                             "unexpected answer from the server to GET %s: no \"items\"", path);
            goto out;
        }
        json_array_extend(all, list);
        const char *next = json_string_value(json_object_get(page, "next"));
        if (next == NULL || *next == '\0') break;
        char *esc = client_escape(next);
        free(next_path);
        next_path = xasprintf("%s%scursor=%s", path, strchr(path, '?') ? "&" : "?", esc);
        free(esc);
        p = next_path;
        json_decref(page);
        page = NULL;
    }
    *items = all;
    all = NULL;
out:
    json_decref(page);
    json_decref(all);
    free(next_path);
    return rc;
}

char *client_escape(const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *o = malloc(3 * n + 1);
    if (o == NULL) abort();
    char *w = o;
    for (const unsigned char *r = (const unsigned char *)s; *r; r++) {
        unsigned char ch = *r;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            *w++ = (char)ch;
        } else {
            *w++ = '%';
            *w++ = hex[ch >> 4];
            *w++ = hex[ch & 15];
        }
    }
    *w = '\0';
    return o;
}

char *client_path(const char *first, ...) {
    size_t len = 0, cap = 64;
    char *p = malloc(cap);
    if (p == NULL) abort();
    p[0] = '\0';
    va_list ap;
    va_start(ap, first);
    for (const char *seg = first; seg != NULL; seg = va_arg(ap, const char *)) {
        char *esc = client_escape(seg);
        /* "." and ".." would be collapsed by URL normalisation. */
        if (strcmp(esc, ".") == 0 || strcmp(esc, "..") == 0) {
            char *e2 = strcmp(esc, ".") == 0 ? util_strdup("%2E") : util_strdup("%2E%2E");
            free(esc);
            esc = e2;
        }
        size_t n = strlen(esc);
        if (len + n + 2 > cap) {
            while (len + n + 2 > cap)
                cap *= 2;
            p = xrealloc(p, cap);
        }
        p[len++] = '/';
        memcpy(p + len, esc, n + 1);
        len += n;
        free(esc);
    }
    va_end(ap);
    return p;
}
