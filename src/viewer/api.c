/* The JSON API of spoofguard-view (see api.h). */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "index.h"

static void json_error(sgv_resp *r, int status, const char *msg)
{
    sg_cli_buf b = {0};
    sg_cli_buf_puts(&b, "{\"error\":");
    sg_cli_buf_json_str(&b, msg);
    sg_cli_buf_puts(&b, "}");
    sgv_resp_set(r, status, "application/json", b.oom ? "{}" : b.data, b.oom ? 2 : b.len);
    sg_cli_buf_free(&b);
}

static void json_done(sgv_resp *r, sg_cli_buf *b)
{
    sg_cli_buf_putc(b, '\0'); /* a C string too (tests, logs); not sent */
    b->len--;
    if (b->oom) {
        sg_cli_buf_free(b);
        json_error(r, 500, "out of memory");
        return;
    }
    free(r->body);
    r->status = 200;
    r->ctype = "application/json";
    r->body = b->data;
    r->len = b->len;
    memset(b, 0, sizeof(*b));
}

typedef struct {
    sg_cli_buf *b;
    size_t n;
} list_ctx;

static int api_row(const sgv_row *row, void *payload)
{
    list_ctx *c = payload;
    sg_cli_buf *b = c->b;
    sg_cli_buf_puts(b, c->n++ ? ",{\"id\":" : "{\"id\":");
    sg_cli_buf_json_str(b, row->id);
    sg_cli_buf_puts(b, ",\"headline\":");
    sg_cli_buf_json_str(b, sgr_headline_name(row->headline));
    sg_cli_buf_puts(b, row->checking ? ",\"checking\":true" : ",\"checking\":false");
    sg_cli_buf_puts(b, ",\"from\":");
    sg_cli_buf_json_str(b, row->address);
    sg_cli_buf_puts(b, ",\"display_name\":");
    sg_cli_buf_json_str(b, row->display_name);
    sg_cli_buf_puts(b, ",\"subject\":");
    sg_cli_buf_json_str(b, row->subject);
    sg_cli_buf_puts(b, ",\"date\":");
    sg_cli_buf_json_str(b, row->date);
    sg_cli_buf_puts(b, ",\"date_unix\":");
    if (row->date_unix < 0) {
        sg_cli_buf_putc(b, '-');
        sg_cli_buf_uint(b, (unsigned long)-row->date_unix);
    } else {
        sg_cli_buf_uint(b, (unsigned long)row->date_unix);
    }
    sg_cli_buf_puts(b, ",\"warnings\":[");
    for (size_t i = 0; i < row->nwarnings; i++) {
        sg_cli_buf_puts(b, i ? ",{\"kind\":" : "{\"kind\":");
        sg_cli_buf_json_str(b, row->warnings[i].kind);
        sg_cli_buf_puts(b, ",\"detail\":");
        sg_cli_buf_json_str(b, row->warnings[i].detail);
        sg_cli_buf_putc(b, '}');
    }
    sg_cli_buf_puts(b, "]}");
    return 0;
}

void sgv_api_list(sgv_req *q, sgv_resp *r, const char *rest)
{
    sg_cli_buf b = {0};
    list_ctx c = {&b, 0};
    sgv_index_refresh(q->app->index);
    sg_cli_buf_puts(&b, "{\"messages\":[");
    sgv_index_foreach(q->app->index, api_row, &c);
    sg_cli_buf_puts(&b, "]}\n");
    json_done(r, &b);
}

void sgv_api_message(sgv_req *q, sgv_resp *r, const char *rest)
{
    sgv_view *v = NULL;
    char *json = NULL;
    size_t len = 0;
    if (strlen(rest) != SGV_ID_LEN || strspn(rest, "0123456789abcdef") != SGV_ID_LEN) {
        json_error(r, 404, "no such message");
        return;
    }
    int rc = sgv_index_open(q->app->index, rest, &v);
    if (rc == -1) {
        json_error(r, 404, "no such message");
        return;
    }
    if (rc != 0 || v->unreadable || v->e == NULL) {
        json_error(r, rc == 0 ? 404 : 500, rc == 0 ? "unreadable message" : "internal error");
        sgv_view_release(q->app->index, v);
        return;
    }
    if (sgr_explain_json(v->e, &json, &len) != SGR_EXPLAIN_OK || json == NULL || len < 2 ||
        json[0] != '{') {
        free(json);
        sgv_view_release(q->app->index, v);
        json_error(r, 500, "internal error");
        return;
    }
    sgv_view_release(q->app->index, v);
    /* {"id":"...", then explain's members */
    sg_cli_buf b = {0};
    sg_cli_buf_puts(&b, "{\"id\":");
    sg_cli_buf_json_str(&b, rest);
    size_t i = 1;
    while (i < len && (json[i] == ' ' || json[i] == '\n'))
        i++;
    if (json[i] != '}')
        sg_cli_buf_putc(&b, ',');
    sg_cli_buf_put(&b, json + i, len - i);
    free(json);
    json_done(r, &b);
}
