/* pg_dl.c - loading libpq at run time (see pg_dl.h). */
#define PG_DL_IMPLEMENTATION
#include "store/pg_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

struct pg_dl pg_dl;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *load_error;

static void load(void) {
    void *lib = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        load_error = "libpq is not installed (apt-get install libpq5)";
        return;
    }
#define X(name)                                                              \
    if ((*(void **)&pg_dl.name##_ = dlsym(lib, #name)) == NULL) {           \
        load_error = "the installed libpq lacks " #name;                     \
        return;                                                              \
    }
    PG_DL_FUNCS(X)
#undef X
}

int pg_dl_load(const char **why) {
    pthread_once(&once, load);
    if (load_error != NULL) {
        *why = load_error;
        return -1;
    }
    return 0;
}
