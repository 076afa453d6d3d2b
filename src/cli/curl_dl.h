/*
 * curl_dl.h - libcurl, loaded with dlopen() when a client verb first needs
 * it.
 *
 * `dmt` is one binary for the server and the CLI. Linking libcurl would map
 * it and its dependencies (OpenSSL, Kerberos, LDAP, libssh2...) into every
 * server process too, a few megabytes of resident memory the server never
 * uses (DESIGN.md §10: idle server under 10 MB). So only the CLI loads it.
 * Include this header instead of <curl/curl.h>: the curl_* names below
 * become calls through the loaded table.
 */
#ifndef DMT_CURL_DL_H
#define DMT_CURL_DL_H

#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

struct curl_dl {
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *curl);
    CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
    void (*easy_reset)(CURL *curl);
    void (*easy_cleanup)(CURL *curl);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
    void (*slist_free_all)(struct curl_slist *list);
};

extern struct curl_dl curl_dl;

/* Loads libcurl (once). Returns 0, or -1 with a reason in *why. */
int curl_dl_load(const char **why);

#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_global_init (*curl_dl.global_init)
#define curl_global_cleanup (*curl_dl.global_cleanup)
#define curl_easy_init (*curl_dl.easy_init)
#define curl_easy_setopt (*curl_dl.easy_setopt)
#define curl_easy_perform (*curl_dl.easy_perform)
#define curl_easy_getinfo (*curl_dl.easy_getinfo)
#define curl_easy_reset (*curl_dl.easy_reset)
#define curl_easy_cleanup (*curl_dl.easy_cleanup)
#define curl_easy_strerror (*curl_dl.easy_strerror)
#define curl_slist_append (*curl_dl.slist_append)
#define curl_slist_free_all (*curl_dl.slist_free_all)

#endif
