/* curl_dl.c - loading libcurl at run time (see curl_dl.h). */
#include <dlfcn.h>
#include <stddef.h>

#include "cli/curl_dl.h"

struct curl_dl curl_dl;

int curl_dl_load(const char **why) {
    static const char *const names[] = {"libcurl-gnutls.so.4", "libcurl.so.4",
                                        "libcurl-nss.so.4"};
    static void *lib;
    if (lib != NULL) return 0;
    for (size_t i = 0; lib == NULL && i < sizeof(names) / sizeof(names[0]); i++)
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        *why = "libcurl is not installed (apt-get install libcurl3-gnutls)";
        return -1;
    }
    struct {
        const char *name;
        void **slot;
    } syms[] = {
        {"curl_global_init", (void **)&curl_dl.global_init},
        {"curl_global_cleanup", (void **)&curl_dl.global_cleanup},
        {"curl_easy_init", (void **)&curl_dl.easy_init},
        {"curl_easy_setopt", (void **)&curl_dl.easy_setopt},
        {"curl_easy_perform", (void **)&curl_dl.easy_perform},
        {"curl_easy_getinfo", (void **)&curl_dl.easy_getinfo},
        {"curl_easy_reset", (void **)&curl_dl.easy_reset},
        {"curl_easy_cleanup", (void **)&curl_dl.easy_cleanup},
        {"curl_easy_strerror", (void **)&curl_dl.easy_strerror},
        {"curl_slist_append", (void **)&curl_dl.slist_append},
        {"curl_slist_free_all", (void **)&curl_dl.slist_free_all},
    };
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        *syms[i].slot = dlsym(lib, syms[i].name);
        if (*syms[i].slot == NULL) {
            *why = "the installed libcurl lacks a function dmt needs";
            dlclose(lib);
            lib = NULL;
            return -1;
        }
    }
    return 0;
}
