/* embedded.h - files compiled into the binary by scripts/embed.sh. */
#ifndef DMT_EMBEDDED_H
#define DMT_EMBEDDED_H
#include <stddef.h>

struct embedded_file {
    const char *path; /* as given to the build: "src/http/openapi.json", "web/app.js" */
    const unsigned char *data; /* NUL-terminated */
    size_t size;               /* without the NUL */
};

/* Ended by an entry whose path is NULL. */
extern const struct embedded_file embedded_files[];

/* Returns the file with that build path, or NULL. */
const struct embedded_file *embedded_find(const char *path);
#endif
