/* res_metrics.c - GET /metrics: the Prometheus text exposition (0.0.4). */
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "exec/executor.h"
#include "http/http.h"

int res_metrics(struct req *r) {
    char *text = metrics_render(executor_queue_depth(), executor_runs_active());
    if (text == NULL) return dmt_err_set(&r->err, DMT_ERR_NOMEM, "cannot render the metrics");
    int rc = reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    free(text);
    return rc;
}
