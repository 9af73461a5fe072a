/* The HTML pages of spoofguard-view (see pages.h). */
#include "pages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/json.h"
#include "index.h"

/* ---- escaping --------------------------------------------------------------------- */

/* Appends s with every valid UTF-8 sequence kept, every invalid byte as
 * U+FFFD, controls but TAB and LF dropped, and the ASCII bytes in `esc`
 * as numeric character references. */
static void escape(sg_cli_buf *b, const char *s, const char *esc)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n;
    if (s == NULL)
        return;
    n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
                i++;
                continue;
            }
            if (strchr(esc, c) != NULL) {
                char ref[8];
                int k = snprintf(ref, sizeof(ref), "&#%u;", c);
                sg_cli_buf_put(b, ref, (size_t)k);
            } else {
                sg_cli_buf_putc(b, (char)c);
            }
            i++;
            continue;
        }
        size_t l = sgu_utf8_len(p + i, n - i);
        if (l == 0) {
            sg_cli_buf_puts(b, "\xef\xbf\xbd");
            i++;
            continue;
        }
        /* C1 controls and bidi controls could reorder what is shown: replaced */
        if ((l == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0) || sgu_bidi_control_at(p + i, l)) {
            sg_cli_buf_puts(b, "\xef\xbf\xbd");
        } else {
            sg_cli_buf_put(b, s + i, l);
        }
        i += l;
    }
}

void sgv_html_text(sg_cli_buf *b, const char *s)
{
    escape(b, s, "&<>\"'");
}

void sgv_html_attr(sg_cli_buf *b, const char *s)
{
    escape(b, s, "&<>\"'`=\t\n");
}

/* ---- small pieces ---------------------------------------------------------------------- */

static void puts_(sg_cli_buf *b, const char *s)
{
    sg_cli_buf_puts(b, s);
}

static void finish(sgv_resp *r, sg_cli_buf *b, int status)
{
    sg_cli_buf_putc(b, '\0'); /* a C string too (tests, logs); not sent */
    b->len--;
    if (b->oom) {
        sg_cli_buf_free(b);
        sgv_resp_set(r, 500, "text/plain; charset=utf-8", "out of memory\n", 14);
        return;
    }
    free(r->body);
    r->status = status;
    r->ctype = "text/html; charset=utf-8";
    r->body = b->data;
    r->len = b->len;
    if (r->body == NULL) {
        r->body = strdup("");
        r->len = 0;
    }
    memset(b, 0, sizeof(*b));
}

/* The four states: words and an icon (an SVG with an aria-label; the
 * shape differs, so colour is never the only sign). */
static const char *const icons[4] = {
    /* verified: a filled circle with a check mark */
    "<circle cx=\"8\" cy=\"8\" r=\"7.5\" fill=\"currentColor\"/>"
    "<path d=\"M4.2 8.4l2.6 2.6 5-5.4\" stroke=\"#fff\" stroke-width=\"2\" fill=\"none\"/>",
    /* verified through a third party: a check mark in a square outline */
    "<rect x=\"1\" y=\"1\" width=\"14\" height=\"14\" rx=\"3\" fill=\"none\" "
    "stroke=\"currentColor\" stroke-width=\"2\"/>"
    "<path d=\"M4.2 8.4l2.6 2.6 5-5.4\" stroke=\"currentColor\" stroke-width=\"2\" fill=\"none\"/>",
    /* unverified: a question mark in a circle outline */
    "<circle cx=\"8\" cy=\"8\" r=\"6.8\" fill=\"none\" stroke=\"currentColor\" "
    "stroke-width=\"1.6\"/><path d=\"M5.8 6.2a2.2 2.2 0 1 1 3.2 2c-.7.4-1 .8-1 1.6\" "
    "stroke=\"currentColor\" stroke-width=\"1.6\" fill=\"none\"/>"
    "<circle cx=\"8\" cy=\"12\" r=\"1\" fill=\"currentColor\"/>",
    /* forged: an exclamation mark in a filled triangle */
    "<path d=\"M8 .8l7.4 14H.6z\" fill=\"currentColor\"/>"
    "<path d=\"M8 5.5v4.5\" stroke=\"#fff\" stroke-width=\"2\"/>"
    "<circle cx=\"8\" cy=\"12.4\" r=\"1.1\" fill=\"#fff\"/>",
};

static void page_start(sg_cli_buf *b, const sgv_req *q, const char *title)
{
    puts_(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
             "<meta name=\"referrer\" content=\"no-referrer\"><title>");
    sgv_html_text(b, title);
    puts_(b, " - spoofguard</title><link rel=\"stylesheet\" href=\"/style.css\"></head>\n<body>");
    /* the icons once; each badge refers to one (<use>): a 10 000-row list
     * stays small */
    puts_(b, "<svg class=\"sprite\" aria-hidden=\"true\" focusable=\"false\">");
    for (unsigned i = 0; i < 4; i++) {
        puts_(b, "<symbol id=\"icon-");
        puts_(b, sgr_headline_name((sgr_headline)i));
        puts_(b, "\" viewBox=\"0 0 16 16\">");
        puts_(b, icons[i]);
        puts_(b, "</symbol>");
    }
    puts_(b, "</svg><header class=\"top\"><a class=\"brand\" href=\"/\">spoofguard</a>");
    if (q != NULL && q->has_session && q->sess.authenticated && sgv_auth_enabled(q->app->auth)) {
        puts_(b, "<form id=\"logout\" method=\"post\" action=\"/logout\">"
                 "<input type=\"hidden\" name=\"csrf\" value=\"");
        sgv_html_attr(b, q->sess.csrf);
        puts_(b, "\"><span class=\"user\">");
        sgv_html_text(b, q->sess.user);
        puts_(b, "</span> <button type=\"submit\">Log out</button></form>");
    }
    puts_(b, "</header>\n<main>");
}

static void page_end(sg_cli_buf *b)
{
    puts_(b, "</main></body></html>\n");
}

void sgv_page_open(sg_cli_buf *b, const sgv_req *q, const char *title)
{
    page_start(b, q, title);
}

void sgv_page_close(sgv_resp *r, sg_cli_buf *b, int status)
{
    page_end(b);
    finish(r, b, status);
}

static void error_page(sgv_req *q, sgv_resp *r, int status, const char *msg)
{
    sg_cli_buf b = {0};
    page_start(&b, q, msg);
    puts_(&b, "<h1>");
    sgv_html_text(&b, msg);
    puts_(&b, "</h1><p><a href=\"/\">Back to the messages</a></p>");
    page_end(&b);
    finish(r, &b, status);
}

static const char *headline_class(sgr_headline h)
{
    return (unsigned)h < 4 ? sgr_headline_name(h) : "unverified";
}

static void headline_badge(sg_cli_buf *b, sgr_headline h)
{
    unsigned i = (unsigned)h < 4 ? (unsigned)h : SGR_HEADLINE_UNVERIFIED;
    puts_(b, "<span class=\"badge hl-");
    puts_(b, headline_class(h));
    puts_(b, "\"><svg class=\"icon\" role=\"img\" aria-label=\"");
    sgv_html_attr(b, sgr_headline_title(h));
    puts_(b, "\" viewBox=\"0 0 16 16\" width=\"16\" height=\"16\"><use href=\"#icon-");
    puts_(b, sgr_headline_name((sgr_headline)i));
    puts_(b, "\"/></svg> <span class=\"headline\">");
    sgv_html_text(b, sgr_headline_title(h));
    puts_(b, "</span></span>");
}

static const char *warning_title(const char *kind)
{
    static const struct {
        const char *kind, *title;
    } t[] = {
        {"lookalike", "Lookalike domain"},    {"display_name", "Name mismatch"},
        {"first_contact", "First contact"},   {"idn", "Unusual characters"},
        {"reply_to", "Replies go elsewhere"}, {"unsigned_field", "Unsigned field"},
        {"attachment", "Risky attachment"},   {"sender", "Sender not proven"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (!strcmp(t[i].kind, kind))
            return t[i].title;
    return "Warning";
}

static void warning_badge(sg_cli_buf *b, const char *kind, const char *detail)
{
    puts_(b, "<span class=\"warning\" data-kind=\"");
    sgv_html_attr(b, kind);
    puts_(b, "\" title=\"");
    sgv_html_attr(b, detail);
    puts_(b, "\"><span aria-hidden=\"true\">&#9888;</span> ");
    sgv_html_text(b, warning_title(kind));
    puts_(b, "</span>");
}

/* domain with its registrable part in <strong class="registrable">. */
static void emph_domain(sg_cli_buf *b, const char *domain, const char *registrable)
{
    size_t dl, rl;
    if (domain == NULL)
        return;
    dl = strlen(domain);
    rl = registrable ? strlen(registrable) : 0;
    if (rl == 0 || rl > dl || strcasecmp(domain + dl - rl, registrable) ||
        (rl < dl && domain[dl - rl - 1] != '.')) {
        sgv_html_text(b, domain);
        return;
    }
    char *pre = strndup(domain, dl - rl);
    sgv_html_text(b, pre);
    free(pre);
    puts_(b, "<strong class=\"registrable\">");
    sgv_html_text(b, domain + dl - rl);
    puts_(b, "</strong>");
}

static void size_text(sg_cli_buf *b, size_t n)
{
    char s[32];
    if (n < 1024)
        snprintf(s, sizeof(s), "%zu bytes", n);
    else if (n < 1024 * 1024)
        snprintf(s, sizeof(s), "%.1f KiB", n / 1024.0);
    else
        snprintf(s, sizeof(s), "%.1f MiB", n / 1048576.0);
    puts_(b, s);
}

const char *sgv_path_id(const char *rest, char id[SGV_ID_LEN + 1])
{
    for (size_t i = 0; i < SGV_ID_LEN; i++) {
        char c = rest[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return NULL;
        id[i] = c;
    }
    id[SGV_ID_LEN] = '\0';
    if (rest[SGV_ID_LEN] != '\0' && rest[SGV_ID_LEN] != '/')
        return NULL;
    return rest + SGV_ID_LEN;
}

long sgv_path_num(const char **p)
{
    long v = 0;
    const char *s = *p;
    if (*s < '0' || *s > '9')
        return -1;
    while (*s >= '0' && *s <= '9') {
        if (v > 100000000L)
            return -1;
        v = v * 10 + (*s++ - '0');
    }
    if (*s != '\0' && *s != '/')
        return -1;
    *p = s;
    return v;
}

/* ---- the style sheet -------------------------------------------------------------------- */

static const char style_css[] =
    ":root{--ok:#0a6b2f;--tp:#1d4f91;--unv:#6b5a00;--bad:#a4161a;--fg:#1b1b1b;--muted:#555}\n"
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:var(--fg);"
    "background:#fafafa}\n"
    "header.top{display:flex;justify-content:space-between;align-items:center;"
    "padding:.5rem 1rem;background:#20232a;color:#fff}\n"
    "header.top a.brand{color:#fff;font-weight:bold;text-decoration:none}\n"
    "header.top form{margin:0}\nheader.top .user{margin-right:.5rem}\n"
    "main{padding:1rem;max-width:70rem;margin:0 auto}\n"
    "table#messages{border-collapse:collapse;width:100%;background:#fff}\n"
    "table#messages th,table#messages td{text-align:left;padding:.4rem .5rem;"
    "border-bottom:1px solid #ddd;vertical-align:top}\n"
    ".badge{display:inline-flex;align-items:center;gap:.25rem;font-weight:600;"
    "white-space:nowrap}\n"
    ".icon{width:1.1em;height:1.1em;flex:none}\n"
    "svg.sprite{position:absolute;width:0;height:0;overflow:hidden}\n"
    ".hl-verified{color:var(--ok)}.hl-verified_third_party{color:var(--tp)}\n"
    ".hl-unverified{color:var(--unv)}.hl-forged{color:var(--bad)}\n"
    ".checking{display:block;font-size:.8em;color:var(--muted)}\n"
    ".warning{display:inline-block;margin:.1rem .2rem 0 0;padding:0 .3rem;border:1px solid #b8860b;"
    "border-radius:3px;background:#fff8e1;color:#5c4400;font-size:.85em}\n"
    ".addr{color:var(--muted)}\n"
    /* sticky: the real verdict stays on screen beside a body that draws a
     * fake one (adv17 F5) */
    "#headline{border:2px solid currentColor;border-radius:6px;padding:.5rem .8rem;"
    "background:#fff;margin-bottom:.5rem;position:sticky;top:0;z-index:1}\n"
    "#body-caption{margin:1rem 0 .2rem;color:var(--muted);font-size:.9em}\n"
    "#headline .badge{font-size:1.3em}\n#headline p{margin:.3rem 0 0;color:var(--fg)}\n"
    "#verified-by{color:var(--muted);margin:.2rem 0 .8rem}\n"
    "#identity dl,#interstitial dl{display:grid;grid-template-columns:max-content 1fr;"
    "gap:.2rem 1rem;margin:0}\n"
    "#identity dt,#interstitial dt{font-weight:600}\n#identity dd,#interstitial dd{margin:0;"
    "overflow-wrap:anywhere}\n"
    "ul#warnings{list-style:none;padding:0}\n"
    "ul#warnings li.warning,ul#link-warnings li{display:block;margin:.3rem 0;padding:.3rem .5rem}\n"
    "ul#attachments li .risk{color:var(--bad);font-weight:600}\n"
    "iframe#body{width:100%;min-height:30rem;border:1px solid #ccc;background:#fff}\n"
    "#link-target{font-family:monospace;overflow-wrap:anywhere}\n"
    "strong.registrable{font-size:1.1em;text-decoration:underline}\n"
    "#link-continue,#link-go{display:inline-block;margin-top:1rem}\n"
    "#login-error{color:var(--bad);font-weight:600}\n"
    "form#login{display:grid;gap:.5rem;max-width:20rem}\n"
    "svg.chart{max-width:100%;height:auto;background:#fff;border:1px solid #ddd}\n";

void sgv_page_style(sgv_req *q, sgv_resp *r, const char *rest)
{
    sgv_resp_set(r, 200, "text/css; charset=utf-8", style_css, sizeof(style_css) - 1);
}

/* ---- login ---------------------------------------------------------------------------------- */

/* sg_session (a logged-in session) or sg_login (the login form's). */
static char *cookie(const sgv_req *q, const char *name, const char *token, int clear)
{
    char *c = malloc(256);
    if (c != NULL)
        snprintf(c, 256, "%s=%s; HttpOnly; SameSite=Strict; Path=/%s%s", name, clear ? "" : token,
                 clear ? "; Max-Age=0" : "", q->app->tls ? "; Secure" : "");
    return c;
}

static void login_page(sgv_req *q, sgv_resp *r, int status, const char *error)
{
    sg_cli_buf b = {0};
    char form[SGV_LOGIN_COOKIE_HEX + 1], csrf[SGV_TOKEN_HEX + 1];
    /* stateless (auth.h): fetching forms takes nothing from other readers */
    if (sgv_auth_login_form(q->app->auth, (long long)time(NULL), form, csrf) != 0) {
        error_page(q, r, 500, "Internal error");
        return;
    }
    page_start(&b, NULL, "Log in");
    puts_(&b, "<h1>Log in</h1>");
    if (error != NULL) {
        puts_(&b, "<p id=\"login-error\" role=\"alert\">");
        sgv_html_text(&b, error);
        puts_(&b, "</p>");
    }
    puts_(&b, "<form id=\"login\" method=\"post\" action=\"/login\">"
              "<input type=\"hidden\" name=\"csrf\" value=\"");
    sgv_html_attr(&b, csrf);
    puts_(&b, "\"><label>User <input name=\"user\" autocomplete=\"username\" required></label>"
              "<label>Password <input type=\"password\" name=\"password\" "
              "autocomplete=\"current-password\" required></label>"
              "<button type=\"submit\">Log in</button></form>");
    page_end(&b);
    finish(r, &b, status);
    r->set_cookie = cookie(q, "sg_login", form, 0);
}

void sgv_page_login_form(sgv_req *q, sgv_resp *r, const char *rest)
{
    if (!sgv_auth_enabled(q->app->auth) || (q->has_session && q->sess.authenticated)) {
        sgv_resp_redirect(r, 303, "/");
        return;
    }
    login_page(q, r, 200, NULL);
}

void sgv_page_login_post(sgv_req *q, sgv_resp *r, const char *rest)
{
    char user[SGV_USER_MAX], pw[1024], token[SGV_TOKEN_HEX + 1];
    if (!sgv_auth_enabled(q->app->auth)) {
        sgv_resp_redirect(r, 303, "/");
        return;
    }
    if (!sgv_form_get(q->body, q->body_len, "user", user, sizeof(user)))
        user[0] = '\0';
    if (!sgv_form_get(q->body, q->body_len, "password", pw, sizeof(pw)))
        pw[0] = '\0';
    sgv_login_result lr =
        sgv_auth_login(q->app->auth, user, pw, &q->client, (long long)time(NULL), token);
    explicit_bzero(pw, sizeof(pw));
    if (lr == SGV_LOGIN_OK) {
        sgv_resp_redirect(r, 303, "/");
        r->set_cookie = cookie(q, "sg_session", token, 0);
        r->set_cookie2 = cookie(q, "sg_login", "", 1);
        return;
    }
    if (lr == SGV_LOGIN_THROTTLED) {
        login_page(q, r, 429, "Too many failed logins: wait a while before the next try.");
        r->retry_after = 60;
        return;
    }
    login_page(q, r, lr == SGV_LOGIN_BAD ? 401 : 500,
               lr == SGV_LOGIN_BAD ? "Wrong user name or password." : "Internal error.");
}

void sgv_page_logout(sgv_req *q, sgv_resp *r, const char *rest)
{
    sgv_auth_logout(q->app->auth, q->token);
    sgv_resp_redirect(r, 303, sgv_auth_enabled(q->app->auth) ? "/login" : "/");
    r->set_cookie = cookie(q, "sg_session", "", 1);
}

/* ---- the list ----------------------------------------------------------------------------------
 */

static int list_row(const sgv_row *row, void *payload)
{
    sg_cli_buf *b = payload;
    puts_(b, "<tr class=\"msg\" data-id=\"");
    sgv_html_attr(b, row->id);
    puts_(b, "\" data-headline=\"");
    puts_(b, headline_class(row->headline));
    puts_(b, row->checking ? "\" data-checking=\"1\"><td>" : "\"><td>");
    headline_badge(b, row->headline);
    if (row->checking)
        puts_(b, "<span class=\"checking\">checking&hellip;</span>");
    if (row->unreadable)
        puts_(b, "<span class=\"checking\">unreadable</span>");
    puts_(b, "</td><td class=\"from\">");
    if (row->display_name[0] != '\0') {
        puts_(b, "<span class=\"name\">");
        sgv_html_text(b, row->display_name);
        puts_(b, "</span> ");
    }
    puts_(b, "<span class=\"addr\">");
    sgv_html_text(b, row->address);
    puts_(b, "</span></td><td class=\"subject\"><a class=\"open\" href=\"/m/");
    sgv_html_attr(b, row->id);
    puts_(b, "\">");
    sgv_html_text(b, row->subject[0] ? row->subject : "(no subject)");
    puts_(b, "</a>");
    if (row->nwarnings > 0) {
        puts_(b, "<div class=\"warnings\">");
        for (size_t i = 0; i < row->nwarnings; i++)
            warning_badge(b, row->warnings[i].kind, row->warnings[i].detail);
        puts_(b, "</div>");
    }
    puts_(b, "</td><td class=\"date\">");
    sgv_html_text(b, row->date);
    puts_(b, "</td></tr>\n");
    return 0;
}

void sgv_page_list(sgv_req *q, sgv_resp *r, const char *rest)
{
    sg_cli_buf b = {0};
    size_t total, done;
    sgv_index_refresh(q->app->index);
    page_start(&b, q, "Messages");
    puts_(&b, "<h1>Messages</h1>");
    if (q->app->cfg->reports_db)
        puts_(&b, "<p><a href=\"/reports\">DMARC reports</a></p>");
    sgv_index_progress(q->app->index, &total, &done);
    if (done < total) {
        char s[160];
        snprintf(s, sizeof(s),
                 "<p class=\"progress\">Checking senders: %zu of %zu done. Messages not yet "
                 "checked are shown as unverified.</p>",
                 done, total);
        puts_(&b, s);
    }
    puts_(&b, "<table id=\"messages\"><thead><tr><th scope=\"col\">Sender check</th>"
              "<th scope=\"col\">From</th><th scope=\"col\">Subject</th>"
              "<th scope=\"col\">Date</th></tr></thead><tbody>\n");
    sgv_index_foreach(q->app->index, list_row, &b);
    puts_(&b, "</tbody></table>");
    page_end(&b);
    finish(r, &b, 200);
}

/* ---- a message
 * ------------------------------------------------------------------------------------ */

static void dl_item(sg_cli_buf *b, const char *term, const char *id, const char *value)
{
    if (value == NULL || value[0] == '\0')
        return;
    puts_(b, "<dt>");
    sgv_html_text(b, term);
    puts_(b, "</dt><dd");
    if (id != NULL) {
        puts_(b, " id=\"");
        puts_(b, id);
        puts_(b, "\"");
    }
    puts_(b, ">");
    sgv_html_text(b, value);
    puts_(b, "</dd>");
}

static void identity_panel(sg_cli_buf *b, const sgr_explanation *e)
{
    const sgr_identity *id = &e->identity;
    puts_(b, "<section id=\"identity\" aria-label=\"Sender\"><dl><dt>From</dt><dd>");
    if (id->display_name && id->display_name[0]) {
        puts_(b, "<span class=\"display-name\">");
        sgv_html_text(b, id->display_name);
        puts_(b, "</span> ");
    }
    puts_(b, "<span class=\"address\">");
    if (id->address != NULL) {
        const char *at = strrchr(id->address, '@');
        if (at != NULL && id->domain != NULL) {
            char *local = strndup(id->address, (size_t)(at - id->address) + 1);
            sgv_html_text(b, local);
            free(local);
            emph_domain(b, id->domain, id->registrable_domain);
        } else {
            sgv_html_text(b, id->address);
        }
    } else {
        puts_(b, "(no address)");
    }
    puts_(b, "</span>");
    if (id->domain_unicode != NULL) {
        puts_(b, " <span class=\"unicode\">(shown as ");
        sgv_html_text(b, id->domain_unicode);
        puts_(b, ")</span>");
    }
    puts_(b, "</dd>");
    if (id->nsigned_by > 0) {
        puts_(b, "<dt>Signed by</dt><dd id=\"signed-by\"><ul>");
        for (size_t i = 0; i < id->nsigned_by; i++) {
            const sgr_signed_by *s = &id->signed_by[i];
            char bits[32] = "";
            puts_(b, "<li>");
            sgv_html_text(b, s->domain);
            if (s->selector) {
                puts_(b, " (selector ");
                sgv_html_text(b, s->selector);
                puts_(b, ")");
            }
            if (s->algorithm) {
                puts_(b, ", ");
                sgv_html_text(b, s->algorithm);
            }
            if (s->key_bits) {
                snprintf(bits, sizeof(bits), ", %u-bit key", s->key_bits);
                puts_(b, bits);
            }
            puts_(b, s->aligned ? ", matches the From domain" : ", another domain");
            puts_(b, "</li>");
        }
        puts_(b, "</ul></dd>");
    } else {
        puts_(b, "<dt>Signed by</dt><dd id=\"signed-by\">no valid signature</dd>");
    }
    dl_item(b, "Mailed by", "mailed-by", id->mailed_by);
    dl_item(b, "Via", "via", id->via);
    dl_item(b, "Reply-To", "reply-to", id->reply_to);
    dl_item(b, "Sender", "sender", id->sender);
    dl_item(b, "List", "list", id->list_id);
    dl_item(b, "ARC", "arc", id->arc);
    puts_(b, "</dl></section>");
}

static const char *verified_by_text(const sgv_view *v)
{
    if (v->checking)
        return "Not verified yet: the viewer is still checking this message. Reload in a moment.";
    switch (v->e->verified_by) {
    case SGR_FROM_AUTHRES:
        return "This message was checked by your mail server when it arrived.";
    case SGR_FROM_VERIFIED:
        return "This message was verified now by the viewer (keys may have changed since "
               "delivery).";
    default:
        return "Nothing verified this message: no result from your mail server, and the "
               "viewer could not check it.";
    }
}

static void message_page(sgv_req *q, sgv_resp *r, const sgv_view *v)
{
    const sgr_explanation *e = v->e;
    sg_cli_buf b = {0};
    const sgr_mime_view *mv = e->mime;
    page_start(&b, q, mv && mv->subject[0] ? mv->subject : "Message");
    puts_(&b, "<section id=\"headline\" class=\"hl-");
    puts_(&b, headline_class(e->headline));
    puts_(&b, "\" data-headline=\"");
    puts_(&b, headline_class(e->headline));
    puts_(&b, "\">");
    headline_badge(&b, e->headline);
    puts_(&b, "<p class=\"detail\">");
    sgv_html_text(&b, e->headline_detail);
    puts_(&b, "</p></section><p id=\"verified-by\">");
    sgv_html_text(&b, verified_by_text(v));
    puts_(&b, "</p>");

    identity_panel(&b, e);

    puts_(&b, "<h2>Warnings</h2><ul id=\"warnings\">");
    for (size_t i = 0; i < e->nwarnings; i++) {
        puts_(&b, "<li class=\"warning\" data-kind=\"");
        sgv_html_attr(&b, e->warnings[i].kind);
        puts_(&b, "\"><span aria-hidden=\"true\">&#9888;</span> <strong>");
        sgv_html_text(&b, warning_title(e->warnings[i].kind));
        puts_(&b, ":</strong> ");
        sgv_html_text(&b, e->warnings[i].detail);
        puts_(&b, "</li>");
    }
    puts_(&b, "</ul>");
    if (e->nwarnings == 0)
        puts_(&b, "<p class=\"none\">No warnings.</p>");

    puts_(&b, "<h2 id=\"subject\">");
    sgv_html_text(&b, mv && mv->subject[0] ? mv->subject : "(no subject)");
    puts_(&b, "</h2><p class=\"date\">");
    sgv_html_text(&b, mv ? mv->date : NULL);
    puts_(&b, "</p>");

    /* attachments: listed, downloaded on request, never rendered */
    puts_(&b, "<ul id=\"attachments\">");
    for (size_t i = 0; mv && i < mv->nparts; i++) {
        const sgr_mime_part *p = &mv->parts[i];
        char n[32];
        if (p->role != SGR_PART_ATTACHMENT)
            continue;
        puts_(&b, "<li><span class=\"name\">");
        sgv_html_text(&b, p->filename ? p->filename : "(no name)");
        puts_(&b, "</span> <span class=\"type\">");
        sgv_html_text(&b, p->content_type);
        puts_(&b, "</span> <span class=\"size\">");
        size_text(&b, p->size);
        puts_(&b, "</span>");
        if (p->risk != 0) {
            puts_(&b, " <span class=\"risk warning\" data-kind=\"attachment\" data-risk=\"");
            for (unsigned bit = 1, k = 0; bit != 0 && bit <= p->risk; bit <<= 1)
                if (p->risk & bit) {
                    puts_(&b, k++ ? " " : "");
                    sgv_html_attr(&b, sgr_mime_risk_name(bit));
                }
            puts_(&b, "\" role=\"note\">&#9888; ");
            sgv_html_text(&b, p->risk_detail ? p->risk_detail : "A risky kind of file.");
            puts_(&b, "</span>");
        }
        snprintf(n, sizeof(n), "%u", p->index);
        puts_(&b, " <a class=\"download\" href=\"/m/");
        sgv_html_attr(&b, v->id);
        puts_(&b, "/part/");
        puts_(&b, n);
        puts_(&b, "\">Download</a></li>");
    }
    puts_(&b, "</ul>");

    if (e->headline == SGR_HEADLINE_VERIFIED && !v->checking && e->remote_images_blocked > 0 &&
        !v->images_allowed) {
        char s[96];
        puts_(&b, "<form id=\"load-images\" method=\"post\" action=\"/m/");
        sgv_html_attr(&b, v->id);
        puts_(&b, "/images\"><input type=\"hidden\" name=\"csrf\" value=\"");
        sgv_html_attr(&b, q->sess.csrf);
        snprintf(s, sizeof(s), "\"><button type=\"submit\">Load %zu remote image%s</button></form>",
                 e->remote_images_blocked, e->remote_images_blocked == 1 ? "" : "s");
        puts_(&b, s);
    }

    puts_(&b, "<p id=\"body-caption\">Below, the message as its sender wrote it: a badge, "
              "a warning or a sign-in box in it proves nothing. What was checked is in the box "
              "at the top.</p>");
    puts_(&b, "<iframe id=\"body\" title=\"Message body\" src=\"/m/");
    sgv_html_attr(&b, v->id);
    puts_(&b, "/body\" sandbox=\"allow-popups allow-popups-to-escape-sandbox "
              "allow-top-navigation-by-user-activation\" referrerpolicy=\"no-referrer\">"
              "</iframe>");

    if (e->nlinks > 0) {
        puts_(&b, "<h2>Links in this message</h2><ul id=\"links\">");
        for (size_t i = 0; i < e->nlinks; i++) {
            const sgr_link *l = e->links[i].link;
            char n[32];
            snprintf(n, sizeof(n), "%zu", i);
            puts_(&b, "<li><a href=\"/link/");
            sgv_html_attr(&b, v->id);
            puts_(&b, "/");
            puts_(&b, n);
            puts_(&b, "\">");
            sgv_html_text(&b, l->host ? l->host : l->target);
            puts_(&b, "</a>");
            if (e->links[i].nwarnings > 0 || (l->flags & SGR_LINK_TEXT_MISMATCH))
                puts_(&b, " <span class=\"warning\" data-kind=\"link\">&#9888; check it</span>");
            puts_(&b, "</li>");
        }
        puts_(&b, "</ul>");
    }
    page_end(&b);
    finish(r, &b, 200);
}

const char *sgv_body_csp(int images)
{
    return images ? "default-src 'none'; img-src 'self' data: https: http:; "
                    "style-src 'unsafe-inline'; frame-ancestors 'self'; base-uri 'none'; "
                    "form-action 'none'"
                  : "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
                    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'";
}

static void body_page(sgv_resp *r, const sgv_view *v)
{
    sg_cli_buf b = {0};
    /* no <meta>: the charset and the referrer policy come as header fields,
     * so the body holds no element the sanitizer would refuse */
    puts_(&b, "<!DOCTYPE html>\n<html><head><style>body{font-family:system-ui,"
              "sans-serif;margin:.5rem;overflow-wrap:anywhere}img{max-width:100%;height:auto}"
              "</style></head><body>");
    if (v->e->html != NULL)
        sg_cli_buf_put(&b, v->e->html, v->e->html_len);
    puts_(&b, "</body></html>\n");
    finish(r, &b, 200);
    r->csp = sgv_body_csp(v->images_allowed);
    r->frameable = 1;
}

/* Raster types a browser decodes without running anything (never SVG):
 * the static string to send, or NULL. */
static const char *safe_image_type(const char *t)
{
    static const char *const ok[] = {"image/png", "image/gif", "image/jpeg", "image/webp",
                                     "image/bmp"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!strcmp(t, ok[i]))
            return ok[i];
    return NULL;
}

char *sgv_disposition(const char *name)
{
    sg_cli_buf b = {0};
    if (name == NULL || name[0] == '\0')
        name = "attachment";
    puts_(&b, "attachment; filename=\"");
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        sg_cli_buf_putc(&b,
                        c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '/' ? (char)c : '_');
    }
    puts_(&b, "\"; filename*=UTF-8''");
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("!#$&+-.^_`|~", c)) {
            sg_cli_buf_putc(&b, (char)c);
        } else {
            char e[4];
            snprintf(e, sizeof(e), "%%%02X", c);
            puts_(&b, e);
        }
    }
    sg_cli_buf_putc(&b, '\0');
    if (b.oom) {
        sg_cli_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static void part_response(sgv_req *q, sgv_resp *r, const sgv_view *v, long n, int inline_image)
{
    const sgr_mime_view *mv = v->e->mime;
    unsigned char *data = NULL;
    size_t len = 0;
    if (mv == NULL || v->e->mime_handle == NULL || n < 0 || (size_t)n >= mv->nparts) {
        error_page(q, r, 404, "No such part");
        return;
    }
    const sgr_mime_part *p = &mv->parts[n];
    if (inline_image && !safe_image_type(p->content_type)) {
        error_page(q, r, 404, "Not an image");
        return;
    }
    if (sgr_mime_part_content(v->e->mime_handle, (unsigned)n, &data, &len) != SGR_MIME_OK) {
        error_page(q, r, 404, "No such part");
        return;
    }
    free(r->body);
    r->status = 200;
    r->body = (char *)data;
    r->len = len;
    r->csp = "default-src 'none'; sandbox";
    if (inline_image) {
        r->ctype = safe_image_type(p->content_type);
    } else {
        r->ctype = "application/octet-stream";
        r->disposition = sgv_disposition(p->filename);
    }
}

void sgv_page_message(sgv_req *q, sgv_resp *r, const char *rest)
{
    char id[SGV_ID_LEN + 1];
    sgv_view *v = NULL;
    const char *tail = sgv_path_id(rest, id);
    if (tail == NULL) {
        error_page(q, r, 404, "No such message");
        return;
    }
    int rc = sgv_index_open(q->app->index, id, &v);
    if (rc == -1) {
        error_page(q, r, 404, "No such message");
        return;
    }
    if (rc != 0) {
        error_page(q, r, 500, "Internal error");
        return;
    }
    if (v->unreadable || v->e == NULL) {
        error_page(q, r, 404, "The message file could not be read");
    } else if (*tail == '\0') {
        message_page(q, r, v);
    } else if (!strcmp(tail, "/body")) {
        body_page(r, v);
    } else if (!strncmp(tail, "/cid/", 5) || !strncmp(tail, "/part/", 6)) {
        int cid = tail[1] == 'c';
        const char *p = tail + (cid ? 5 : 6);
        long n = sgv_path_num(&p);
        if (n < 0 || *p != '\0')
            error_page(q, r, 404, "No such part");
        else
            part_response(q, r, v, n, cid);
    } else {
        error_page(q, r, 404, "Not found");
    }
    sgv_view_release(q->app->index, v);
}

void sgv_page_message_post(sgv_req *q, sgv_resp *r, const char *rest)
{
    char id[SGV_ID_LEN + 1], loc[64];
    const char *tail = sgv_path_id(rest, id);
    if (tail == NULL || strcmp(tail, "/images")) {
        error_page(q, r, 404, "Not found");
        return;
    }
    int rc = sgv_index_allow_images(q->app->index, id);
    if (rc == -1) {
        error_page(q, r, 404, "No such message");
    } else if (rc == -2) {
        error_page(q, r, 403, "Remote images are loaded only for verified mail");
    } else {
        snprintf(loc, sizeof(loc), "/m/%s", id);
        sgv_resp_redirect(r, 303, loc);
    }
}

/* ---- the link interstitial
 * ------------------------------------------------------------------------- */

static int headline_trusted(const sgv_view *v)
{
    return !v->checking && (v->e->headline == SGR_HEADLINE_VERIFIED ||
                            v->e->headline == SGR_HEADLINE_VERIFIED_THIRD_PARTY);
}

static int link_navigable(const sgr_link *l)
{
    return !(l->flags & SGR_LINK_BLOCKED) &&
           (!strcmp(l->scheme, "http") || !strcmp(l->scheme, "https") ||
            !strcmp(l->scheme, "mailto"));
}

/* A target with a control character never goes into a Location field. */
static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static void link_item(sg_cli_buf *b, const char *kind, const char *detail)
{
    puts_(b, "<li class=\"warning\" data-kind=\"");
    sgv_html_attr(b, kind);
    puts_(b, "\"><span aria-hidden=\"true\">&#9888;</span> ");
    sgv_html_text(b, detail);
    puts_(b, "</li>");
}

static void interstitial(sgv_req *q, sgv_resp *r, const sgv_view *v, size_t n, const char *k)
{
    const sgr_link_view *lv = &v->e->links[n];
    const sgr_link *l = lv->link;
    sg_cli_buf b = {0};
    char num[32];
    snprintf(num, sizeof(num), "%zu", n);
    page_start(&b, q, "Where this link goes");
    puts_(&b, "<section id=\"interstitial\"><h1>Where this link really goes</h1>"
              "<p id=\"link-verdict\" class=\"hl-");
    puts_(&b, headline_class(v->e->headline));
    puts_(&b, "\" data-headline=\"");
    puts_(&b, headline_class(v->e->headline));
    puts_(&b, "\">The sender of this message: ");
    headline_badge(&b, v->e->headline);
    puts_(&b, " <span class=\"detail\">");
    sgv_html_text(&b, v->checking ? "Not verified yet: the viewer is still checking it."
                                  : v->e->headline_detail);
    puts_(&b, "</span></p><dl><dt>Full address</dt><dd id=\"link-target\">");
    sgv_html_text(&b, l->target);
    puts_(&b, "</dd><dt>Scheme</dt><dd id=\"link-scheme\">");
    sgv_html_text(&b, l->scheme[0] ? l->scheme : "(none: a relative address)");
    puts_(&b, "</dd><dt>Host</dt><dd id=\"link-host\">");
    if (l->host != NULL)
        emph_domain(&b, l->host, l->registrable_domain);
    else
        puts_(&b, "(none)");
    puts_(&b, "</dd>");
    if (l->host_unicode != NULL && l->host != NULL && strcmp(l->host_unicode, l->host)) {
        puts_(&b, "<dt>As shown (Unicode)</dt><dd id=\"link-unicode\">");
        sgv_html_text(&b, l->host_unicode);
        puts_(&b, "</dd><dt>As sent (punycode)</dt><dd id=\"link-punycode\">");
        sgv_html_text(&b, l->host);
        puts_(&b, "</dd>");
    }
    puts_(&b, "<dt>Link text</dt><dd id=\"link-text\">");
    sgv_html_text(&b, l->text && l->text[0] ? l->text : "(no text)");
    if (l->flags & SGR_LINK_TEXT_MISMATCH) /* the sentence is in #link-warnings */
        puts_(&b, " <span class=\"warning\" data-kind=\"text_mismatch\">&#9888; names another "
                  "address than the link's</span>");
    puts_(&b, "</dd></dl><ul id=\"link-warnings\">");
    for (size_t i = 0; i < lv->nwarnings; i++)
        link_item(&b, lv->warnings[i].kind, lv->warnings[i].detail);
    /* explain names text mismatches, IP hosts, user names and lookalikes;
     * what it leaves out: */
    if (l->flags & SGR_LINK_IDNA_INVALID)
        link_item(&b, "idn", "The host is not a valid internationalised domain name.");
    if (l->flags & SGR_LINK_TRUNCATED)
        link_item(&b, "truncated", "The address is too long to show whole.");
    puts_(&b, "</ul>");

    if (!link_navigable(l)) {
        puts_(&b, "<p id=\"link-blocked\">This kind of link (");
        sgv_html_text(&b, l->scheme[0] ? l->scheme : "relative");
        puts_(&b, ") is never opened by the viewer.</p>");
    } else if (headline_trusted(v)) {
        puts_(&b, "<p><a id=\"link-continue\" href=\"");
        sgv_html_attr(&b, l->target);
        puts_(&b, "\" rel=\"noopener noreferrer\">Continue to ");
        sgv_html_text(&b, l->host ? l->host : l->target);
        puts_(&b, "</a></p>");
    } else {
        /* a POST with the session's token or the link's: no navigation
         * inside the viewer (a GET) can open an unverified link (adv17 F6) */
        puts_(&b, "<form id=\"link-confirm\" method=\"post\" action=\"/link/");
        sgv_html_attr(&b, v->id);
        puts_(&b, "/");
        puts_(&b, num);
        puts_(&b, "/go\">");
        if (k != NULL) {
            puts_(&b, "<input type=\"hidden\" name=\"k\" value=\"");
            sgv_html_attr(&b, k);
            puts_(&b, "\">");
        }
        if (q->has_session && q->sess.authenticated) {
            puts_(&b, "<input type=\"hidden\" name=\"csrf\" value=\"");
            sgv_html_attr(&b, q->sess.csrf);
            puts_(&b, "\">");
        }
        puts_(&b, "<p><label><input type=\"checkbox\" id=\"confirm\" name=\"confirm\" "
                  "required> The sender of this message is not verified. I checked where the "
                  "link goes and want to open it anyway.</label></p>"
                  "<button type=\"submit\" id=\"link-go\">Open the link</button></form>");
    }
    puts_(&b, "<p><a href=\"/m/");
    sgv_html_attr(&b, v->id);
    puts_(&b, "\">Back to the message</a></p></section>");
    page_end(&b);
    finish(r, &b, 200);
    /* the confirmation form's redirect leaves the origin: no form-action */
    r->csp = "default-src 'self'; script-src 'none'; object-src 'none'; style-src 'self'; "
             "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";
}

int sgv_link_path_parse(const char *rest, char id[SGV_ID_LEN + 1], long *n, const char **tail)
{
    *tail = sgv_path_id(rest, id);
    if (*tail == NULL || **tail != '/')
        return -1;
    (*tail)++;
    if ((*n = sgv_path_num(tail)) < 0 || (**tail != '\0' && strcmp(*tail, "/go")))
        return -1;
    return 0;
}

/* /link/ID/N[/go] (sgv_link_path_parse), or -1 with a 404 answered. */
static int link_path(sgv_req *q, sgv_resp *r, const char *rest, char id[SGV_ID_LEN + 1], long *n,
                     const char **tail)
{
    if (sgv_link_path_parse(rest, id, n, tail) != 0) {
        error_page(q, r, 404, "No such link");
        return -1;
    }
    return 0;
}

/* The message of link n, or NULL with the error answered. */
static sgv_view *link_view(sgv_req *q, sgv_resp *r, const char *id, long n)
{
    sgv_view *v = NULL;
    int rc = sgv_index_open(q->app->index, id, &v);
    if (rc != 0 || v->unreadable || v->e == NULL || (size_t)n >= v->e->nlinks) {
        error_page(q, r, rc == -2 ? 500 : 404, "No such link");
        sgv_view_release(q->app->index, v);
        return NULL;
    }
    return v;
}

/* To the link's target when the headline is trusted or the reader
 * confirmed it (a POST only), else back to its interstitial. */
static void link_go(sgv_req *q, sgv_resp *r, const char *id, long n, const char *k, int confirmed)
{
    char back[128];
    sgv_view *v = link_view(q, r, id, n);
    if (v == NULL)
        return;
    const sgr_link *l = v->e->links[n].link;
    if (link_navigable(l) && !has_control(l->target) && (headline_trusted(v) || confirmed)) {
        sgv_resp_redirect(r, 303, l->target);
    } else {
        if (k != NULL && strlen(k) == SGV_LINK_TOKEN_HEX &&
            strspn(k, "0123456789abcdef") == SGV_LINK_TOKEN_HEX)
            snprintf(back, sizeof(back), "/link/%s/%ld?k=%s", id, n, k);
        else
            snprintf(back, sizeof(back), "/link/%s/%ld", id, n);
        sgv_resp_redirect(r, 303, back);
    }
    sgv_view_release(q->app->index, v);
}

void sgv_page_link(sgv_req *q, sgv_resp *r, const char *rest)
{
    char id[SGV_ID_LEN + 1];
    const char *tail;
    long n;
    if (link_path(q, r, rest, id, &n, &tail) != 0)
        return;
    /* a session, or the token of this very link (a click in the body) */
    const char *k = sgv_req_arg(q, "k");
    int by_token = !(q->has_session && q->sess.authenticated);
    if (by_token && !sgv_index_link_token_ok(q->app->index, id, (size_t)n, k)) {
        sgv_resp_redirect(r, 303, "/login");
        return;
    }
    if (*tail != '\0') {
        link_go(q, r, id, n, k, 0); /* a GET never confirms */
        return;
    }
    sgv_view *v = link_view(q, r, id, n);
    if (v != NULL) {
        interstitial(q, r, v, (size_t)n, k);
        sgv_view_release(q->app->index, v);
    }
}

void sgv_page_link_post(sgv_req *q, sgv_resp *r, const char *rest)
{
    char id[SGV_ID_LEN + 1], k[SGV_LINK_TOKEN_HEX + 2], csrf[SGV_TOKEN_HEX + 2], confirm[8];
    const char *tail;
    long n;
    if (link_path(q, r, rest, id, &n, &tail) != 0)
        return;
    if (*tail == '\0') {
        error_page(q, r, 404, "No such link");
        return;
    }
    int have_k = sgv_form_get(q->body, q->body_len, "k", k, sizeof(k));
    /* the session's form token, or the link's own (the interstitial of a
     * click in the body was shown without the session) */
    int by_session = q->has_session && q->sess.authenticated &&
                     sgv_form_get(q->body, q->body_len, "csrf", csrf, sizeof(csrf)) &&
                     sgv_auth_csrf_ok(q->sess.csrf, csrf);
    if (!by_session && !(have_k && sgv_index_link_token_ok(q->app->index, id, (size_t)n, k))) {
        error_page(q, r, 403, "The form's token is missing or wrong (open the link again)");
        return;
    }
    int confirmed = sgv_form_get(q->body, q->body_len, "confirm", confirm, sizeof(confirm)) &&
                    !strcmp(confirm, "on");
    link_go(q, r, id, n, have_k ? k : NULL, confirmed);
}
