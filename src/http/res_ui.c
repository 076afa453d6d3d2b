/*
 * res_ui.c - the web UI (DESIGN.md §9): "/" and the UI's own pages
 * (/workflows/JOB, /runs/ID, /jobs, ...: the routes server.c sends here
 * besides /assets, so a deep link or a reload works; the client router
 * uses the History API) are web/index.html; "/assets/NAME" is web/NAME,
 * all from the files embedded at build time
 * (scripts/embed.sh). No file is read from disk. Each answer carries a
 * strong ETag (a hash of the content), so the browser revalidates its copy
 * (Cache-Control: no-cache) and gets 304 when nothing changed.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "http/embedded.h"
#include "http/http.h"

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".json", "application/json"},
    {".ico", "image/x-icon"},
};

static const char *content_type(const char *path) {
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

int res_ui(struct req *r) {
    char path[300];
    /* "/assets/<one segment>" is that file; every other route here is a
     * page of the UI (server.c lists them): index.html. */
    bool asset = r->route != NULL && strncmp(r->route, "/assets/", 8) == 0;
    if (asset && r->params[0] != NULL)
        snprintf(path, sizeof(path), "web/%s", r->params[0]);
    else
        snprintf(path, sizeof(path), "web/index.html");
    const struct embedded_file *f =
        asset && r->params[0] != NULL && r->params[0][0] == '.' ? NULL : embedded_find(path);
    if (f == NULL) return dmt_err_set(&r->err, DMT_ERR_NOT_FOUND, "no such file: %s", r->url);
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < f->size; i++)
        h = (h ^ f->data[i]) * 16777619u;
    char etag[32];
    snprintf(etag, sizeof(etag), "\"ui-%08x-%zx\"", (unsigned)h, f->size);
    if (req_etag_fresh(r, etag)) return reply_not_modified(r, etag);
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        f->size, (void *)f->data, MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) return dmt_err_set(&r->err, DMT_ERR_NOMEM, "cannot build a response");
    MHD_add_response_header(resp, "Content-Type", content_type(path));
    MHD_add_response_header(resp, "ETag", etag);
    return reply_response(r, 200, resp);
}
