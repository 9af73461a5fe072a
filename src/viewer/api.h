/*
 * The JSON API of spoofguard-view, for other clients: the same verdicts
 * and warnings as the pages, under the same session cookie (401 without).
 *
 *   GET /api/messages     {"messages":[{"id","headline","checking","from",
 *                         "display_name","subject","date","date_unix",
 *                         "warnings":[{"kind","detail"}]}...]}, newest first
 *   GET /api/messages/ID  sgr_explain_json's object (explain.h) plus "id"
 */
#ifndef SG_VIEWER_API_H
#define SG_VIEWER_API_H

#include "http.h"

void sgv_api_list(sgv_req *q, sgv_resp *r, const char *rest);
void sgv_api_message(sgv_req *q, sgv_resp *r, const char *rest);

#endif
