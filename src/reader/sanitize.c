/*
 * sanitize.c - the allow-list HTML sanitizer (see sanitize.h).
 *
 * Why it is shaped this way:
 * - The tree comes from gumbo, which implements the HTML5 tree builder, so
 *   we judge the tree the browser builds (misnested tags, implied elements,
 *   foster-parenting, <image> -> <img>), not the one the bytes suggest.
 * - Nothing is passed through: every tag and attribute name we write is
 *   one of our constants, every text and attribute value is escaped, and
 *   no raw-text element (script, xmp, noscript, iframe, textarea...) and
 *   no foreign element (svg, math) is ever written. The one raw-text
 *   element we write, <style>, holds only what css.c produced, which has
 *   no '<'. So the browser's tokenizer sees exactly our tags: the
 *   re-parse cannot grow an element or attribute we did not write.
 * - URL decisions are made on the parsed (entity-decoded) attribute value
 *   after the URL parser's own clean-up (links.c), never on the bytes, so
 *   "jav&#x09;ascript:" or "&#106;avascript:" are seen as the browser sees
 *   them. Link targets are never written at all: the caller's interstitial
 *   URL replaces them.
 * - The walk is iterative with a heap stack, and gumbo allocates from one
 *   arena freed at once: no recursion over an attacker-chosen depth, also
 *   not gumbo's own (recursive) gumbo_destroy_output.
 */
#include "sanitize.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gumbo.h>

#include <spoofguard/common.h>

#include "common/json.h"
#include "css.h"

/* ---- the allow-list ---------------------------------------------------------- */

enum {
    UNWRAP = 0, /* not written, its content is (the default: unknown tags) */
    KEEP,       /* written with its allowed attributes */
    DROP,       /* not written, nor anything inside it */
    STYLE,      /* written through the CSS filter */
};

static const unsigned char elem_action[GUMBO_TAG_LAST + 1] = {
    /* content we show */
    [GUMBO_TAG_A] = KEEP,
    [GUMBO_TAG_ABBR] = KEEP,
    [GUMBO_TAG_ACRONYM] = KEEP,
    [GUMBO_TAG_ADDRESS] = KEEP,
    [GUMBO_TAG_AREA] = KEEP,
    [GUMBO_TAG_ARTICLE] = KEEP,
    [GUMBO_TAG_ASIDE] = KEEP,
    [GUMBO_TAG_B] = KEEP,
    [GUMBO_TAG_BDI] = KEEP,
    [GUMBO_TAG_BDO] = KEEP,
    [GUMBO_TAG_BIG] = KEEP,
    [GUMBO_TAG_BLOCKQUOTE] = KEEP,
    [GUMBO_TAG_BR] = KEEP,
    [GUMBO_TAG_CAPTION] = KEEP,
    [GUMBO_TAG_CENTER] = KEEP,
    [GUMBO_TAG_CITE] = KEEP,
    [GUMBO_TAG_CODE] = KEEP,
    [GUMBO_TAG_COL] = KEEP,
    [GUMBO_TAG_COLGROUP] = KEEP,
    [GUMBO_TAG_DD] = KEEP,
    [GUMBO_TAG_DEL] = KEEP,
    [GUMBO_TAG_DETAILS] = KEEP,
    [GUMBO_TAG_DFN] = KEEP,
    [GUMBO_TAG_DIV] = KEEP,
    [GUMBO_TAG_DL] = KEEP,
    [GUMBO_TAG_DT] = KEEP,
    [GUMBO_TAG_EM] = KEEP,
    [GUMBO_TAG_FIGCAPTION] = KEEP,
    [GUMBO_TAG_FIGURE] = KEEP,
    [GUMBO_TAG_FONT] = KEEP,
    [GUMBO_TAG_FOOTER] = KEEP,
    [GUMBO_TAG_H1] = KEEP,
    [GUMBO_TAG_H2] = KEEP,
    [GUMBO_TAG_H3] = KEEP,
    [GUMBO_TAG_H4] = KEEP,
    [GUMBO_TAG_H5] = KEEP,
    [GUMBO_TAG_H6] = KEEP,
    [GUMBO_TAG_HEADER] = KEEP,
    [GUMBO_TAG_HR] = KEEP,
    [GUMBO_TAG_I] = KEEP,
    [GUMBO_TAG_IMG] = KEEP,
    [GUMBO_TAG_INS] = KEEP,
    [GUMBO_TAG_KBD] = KEEP,
    [GUMBO_TAG_LI] = KEEP,
    [GUMBO_TAG_MAIN] = KEEP,
    [GUMBO_TAG_MAP] = KEEP,
    [GUMBO_TAG_MARK] = KEEP,
    [GUMBO_TAG_NAV] = KEEP,
    [GUMBO_TAG_OL] = KEEP,
    [GUMBO_TAG_P] = KEEP,
    [GUMBO_TAG_PRE] = KEEP,
    [GUMBO_TAG_Q] = KEEP,
    [GUMBO_TAG_RP] = KEEP,
    [GUMBO_TAG_RT] = KEEP,
    [GUMBO_TAG_RUBY] = KEEP,
    [GUMBO_TAG_S] = KEEP,
    [GUMBO_TAG_SAMP] = KEEP,
    [GUMBO_TAG_SECTION] = KEEP,
    [GUMBO_TAG_SMALL] = KEEP,
    [GUMBO_TAG_SPAN] = KEEP,
    [GUMBO_TAG_STRIKE] = KEEP,
    [GUMBO_TAG_STRONG] = KEEP,
    [GUMBO_TAG_SUB] = KEEP,
    [GUMBO_TAG_SUMMARY] = KEEP,
    [GUMBO_TAG_SUP] = KEEP,
    [GUMBO_TAG_TABLE] = KEEP,
    [GUMBO_TAG_TBODY] = KEEP,
    [GUMBO_TAG_TD] = KEEP,
    [GUMBO_TAG_TFOOT] = KEEP,
    [GUMBO_TAG_TH] = KEEP,
    [GUMBO_TAG_THEAD] = KEEP,
    [GUMBO_TAG_TIME] = KEEP,
    [GUMBO_TAG_TR] = KEEP,
    [GUMBO_TAG_TT] = KEEP,
    [GUMBO_TAG_U] = KEEP,
    [GUMBO_TAG_UL] = KEEP,
    [GUMBO_TAG_VAR] = KEEP,
    [GUMBO_TAG_WBR] = KEEP,
    [GUMBO_TAG_STYLE] = STYLE,
    /* code, active content, other documents, forms, metadata, media, and
     * raw-text elements whose text the browser would not show as text */
    [GUMBO_TAG_SCRIPT] = DROP,
    [GUMBO_TAG_NOSCRIPT] = DROP,
    [GUMBO_TAG_TEMPLATE] = DROP,
    [GUMBO_TAG_IFRAME] = DROP,
    [GUMBO_TAG_FRAME] = DROP,
    [GUMBO_TAG_FRAMESET] = DROP,
    [GUMBO_TAG_NOFRAMES] = DROP,
    [GUMBO_TAG_OBJECT] = DROP,
    [GUMBO_TAG_EMBED] = DROP,
    [GUMBO_TAG_APPLET] = DROP,
    [GUMBO_TAG_PARAM] = DROP,
    [GUMBO_TAG_TITLE] = DROP,
    [GUMBO_TAG_META] = DROP,
    [GUMBO_TAG_LINK] = DROP,
    [GUMBO_TAG_BASE] = DROP,
    [GUMBO_TAG_TEXTAREA] = DROP,
    [GUMBO_TAG_SELECT] = DROP,
    [GUMBO_TAG_OPTION] = DROP,
    [GUMBO_TAG_OPTGROUP] = DROP,
    [GUMBO_TAG_DATALIST] = DROP,
    [GUMBO_TAG_INPUT] = DROP,
    [GUMBO_TAG_KEYGEN] = DROP,
    [GUMBO_TAG_ISINDEX] = DROP,
    [GUMBO_TAG_AUDIO] = DROP,
    [GUMBO_TAG_VIDEO] = DROP,
    [GUMBO_TAG_SOURCE] = DROP,
    [GUMBO_TAG_TRACK] = DROP,
    [GUMBO_TAG_CANVAS] = DROP,
    [GUMBO_TAG_BGSOUND] = DROP,
    [GUMBO_TAG_SVG] = DROP,
    [GUMBO_TAG_MATH] = DROP,
    [GUMBO_TAG_XMP] = DROP,
    [GUMBO_TAG_PLAINTEXT] = DROP,
    [GUMBO_TAG_NOEMBED] = DROP,
    [GUMBO_TAG_MENUITEM] = DROP,
    /* everything else (html, head, body, form, button, label, fieldset,
     * unknown and Office tags) is unwrapped: its text stays */
};

/* Attributes written as they are (escaped); anything else, on* handlers
 * included, is dropped. URL attributes are handled one by one below. */
static const char *const plain_attrs[] = {
    "abbr",   "align",   "alt",     "bgcolor", "border",   "cellpadding", "cellspacing", "clear",
    "color",  "colspan", "compact", "coords",  "datetime", "dir",         "face",        "frame",
    "height", "hspace",  "lang",    "noshade", "nowrap",   "open",        "reversed",    "rowspan",
    "rules",  "scope",   "shape",   "size",    "span",     "start",       "summary",     "title",
    "type",   "valign",  "value",   "vspace",  "width"};

static int is_plain_attr(const char *name)
{
    for (size_t i = 0; i < sizeof plain_attrs / sizeof plain_attrs[0]; i++)
        if (strcmp(name, plain_attrs[i]) == 0)
            return 1;
    return 0;
}

/* ---- state ------------------------------------------------------------------------ */

typedef struct {
    const GumboNode *node;
    unsigned child;
    unsigned char wrote;  /* the start tag was written: write the end tag */
    unsigned char inert;  /* an inert link: write its target after it */
    const sgr_link *link; /* for inert */
} frame;

typedef struct {
    const sgr_sanitize_opts *o;
    sgr_sanitize_result *r;
    sgr_buf out;
    frame *stack;
    size_t depth_n, depth_cap;
    unsigned open_tags; /* elements written and not yet closed */
    char *url;          /* callback buffer */
    size_t url_cap;
    int err;
} ctx;

#define URL_CAP 4096

static void *gumbo_alloc(void *userdata, size_t size)
{
    void *p = sg_arena_alloc(userdata, size ? size : 1);
    /* gumbo has no way to report an allocation failure; the input bound
     * keeps its memory bounded, and running out here is not recoverable */
    if (p == NULL)
        abort();
    return p;
}

static void gumbo_free(void *userdata, void *ptr)
{
    /* the arena frees everything at once after the walk */
}

/* ---- writing ----------------------------------------------------------------------- */

static void put(ctx *c, const char *s, size_t n)
{
    if (sgr_buf_put(&c->out, s, n) != 0 && c->err == 0)
        c->err = c->out.nomem ? SG_ENOMEM : SG_ELIMIT;
}

static void puts_(ctx *c, const char *s)
{
    put(c, s, strlen(s));
}

/* Text and attribute values: & < > " ' become references, so neither a
 * tag nor the end of a quoted value can appear. */
static void put_escaped(ctx *c, const char *s, size_t n)
{
    size_t b = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        if ((unsigned char)s[i] >= 0x80) {
            /* gumbo passes some invalid UTF-8 through (bytes F5..FF, code
             * points past U+10FFFF); the page is UTF-8, so they become
             * U+FFFD here */
            size_t l = sgu_utf8_len((const unsigned char *)s + i, n - i);
            if (l > 0) {
                i += l - 1;
                continue;
            }
            rep = "\xEF\xBF\xBD";
        }
        switch (rep ? 0 : s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        case '\0':
            rep = "\xEF\xBF\xBD";
            break;
        default:
            if (rep == NULL)
                continue;
        }
        put(c, s + b, i - b);
        puts_(c, rep);
        b = i + 1;
    }
    put(c, s + b, n - b);
}

static void put_attr(ctx *c, const char *name, const char *value, size_t n)
{
    puts_(c, " ");
    puts_(c, name);
    puts_(c, "=\"");
    put_escaped(c, value, n);
    puts_(c, "\"");
}

/* ---- URLs -------------------------------------------------------------------------- */

static int starts_ci(const char *s, const char *p)
{
    for (; *p; s++, p++)
        if (*s == '\0' || (*s | 0x20) != *p)
            return 0;
    return 1;
}

/* data:image/{png,gif,jpeg,webp};base64, followed by base64 only. */
static int data_image_ok(const char *u)
{
    static const char *const types[] = {"data:image/png;base64,", "data:image/gif;base64,",
                                        "data:image/jpeg;base64,", "data:image/jpg;base64,",
                                        "data:image/webp;base64,"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (starts_ci(u, types[i])) {
            for (const char *p = u + strlen(types[i]); *p; p++)
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                      (*p >= '0' && *p <= '9') || *p == '+' || *p == '/' || *p == '='))
                    return 0;
            return 1;
        }
    return 0;
}

/* An image source as the browser would read it: writes name="..." for an
 * allowed source (cid: through the callback, data:image raster, http(s)
 * when remote images are allowed); otherwise writes nothing. */
static void put_image_url(ctx *c, const char *name, const char *value)
{
    sg_arena *a = c->r->arena;
    sgr_link l;
    if (sgr_link_describe(&l, a, c->o->psl, value, strlen(value), "", 0) != 0) {
        c->err = SG_ENOMEM;
        return;
    }
    if (l.flags & SGR_LINK_TRUNCATED)
        return;
    if (!strcmp(l.scheme, "http") || !strcmp(l.scheme, "https")) {
        if (c->o->allow_remote_images && strlen(l.target) <= SGR_SANITIZE_MAX_SRC &&
            l.host != NULL && l.host[0] != '\0') {
            /* written in the form every reader agrees on: lower-case
             * scheme and "//" ("HTTPS:\\\\host" is the same URL) */
            const char *rest = l.target + strlen(l.scheme) + 1;
            while (*rest == '/' || *rest == '\\')
                rest++;
            size_t sn = strlen(l.scheme), rn = strlen(rest);
            char *u = sg_arena_alloc(a, sn + 3 + rn + 1);
            if (u == NULL) {
                c->err = SG_ENOMEM;
                return;
            }
            memcpy(u, l.scheme, sn);
            memcpy(u + sn, "://", 3);
            memcpy(u + sn + 3, rest, rn + 1);
            put_attr(c, name, u, sn + 3 + rn);
        } else
            c->r->remote_images_blocked++;
        return;
    }
    if (!strcmp(l.scheme, "cid")) {
        if (c->o->cid_src == NULL)
            return;
        /* RFC 2392: the cid URL is the Content-ID, %hh-encoded */
        const char *v = l.target + 4;
        size_t n = strlen(v), k = 0;
        char *id = sg_arena_alloc(a, n + 1);
        if (id == NULL) {
            c->err = SG_ENOMEM;
            return;
        }
        for (size_t i = 0; i < n; i++) {
            static const char hex[] = "0123456789abcdef";
            const char *h1, *h2;
            if (v[i] == '%' && i + 2 < n && (h1 = strchr(hex, v[i + 1] | 0x20)) != NULL &&
                (h2 = strchr(hex, v[i + 2] | 0x20)) != NULL) {
                id[k++] = (char)((h1 - hex) * 16 + (h2 - hex));
                i += 2;
            } else {
                id[k++] = v[i];
            }
        }
        id[k] = '\0';
        c->url[0] = '\0';
        if (c->o->cid_src(c->url, c->url_cap, id, k, c->o->payload) == 0) {
            c->url[c->url_cap - 1] = '\0';
            put_attr(c, name, c->url, strlen(c->url));
        }
        return;
    }
    if (!strcmp(l.scheme, "data") && c->o->allow_data_images && !strcmp(name, "src") &&
        strlen(l.target) <= SGR_SANITIZE_MAX_SRC && data_image_ok(l.target))
        put_attr(c, name, l.target, strlen(l.target));
}

/* ---- link text ---------------------------------------------------------------------- */

/* The text an anchor shows (its text nodes, and an image's alt), gathered
 * without recursion by walking parent pointers; at most cap bytes. */
static size_t gather_text(const GumboNode *root, char *buf, size_t cap)
{
    size_t n = 0, visited = 0;
    const GumboNode *node = root;
    for (;;) {
        if (++visited > 100000 || n >= cap)
            break;
        int descend = 0;
        if (node->type == GUMBO_NODE_TEXT || node->type == GUMBO_NODE_WHITESPACE) {
            size_t l = strlen(node->v.text.text);
            if (l > cap - n)
                l = cap - n;
            memcpy(buf + n, node->v.text.text, l);
            n += l;
        } else if (node->type == GUMBO_NODE_ELEMENT &&
                   node->v.element.tag_namespace == GUMBO_NAMESPACE_HTML &&
                   elem_action[node->v.element.tag] != DROP &&
                   elem_action[node->v.element.tag] != STYLE) {
            if (node->v.element.tag == GUMBO_TAG_IMG || node->v.element.tag == GUMBO_TAG_AREA) {
                GumboAttribute *alt = gumbo_get_attribute(&node->v.element.attributes, "alt");
                if (alt != NULL && n < cap) {
                    size_t l = strlen(alt->value);
                    if (l > cap - n - (n < cap ? 1 : 0))
                        l = cap - n - 1;
                    buf[n++] = ' ';
                    memcpy(buf + n, alt->value, l);
                    n += l;
                }
            }
            descend = node->v.element.children.length > 0;
        }
        if (descend) {
            node = node->v.element.children.data[0];
            continue;
        }
        /* next sibling, climbing up as needed, never above root */
        while (node != root) {
            const GumboNode *p = node->parent;
            size_t i = node->index_within_parent + 1;
            if (i < p->v.element.children.length) {
                node = p->v.element.children.data[i];
                break;
            }
            node = p;
        }
        if (node == root)
            break;
    }
    return n;
}

/* ---- elements -------------------------------------------------------------------------- */

static void put_class(ctx *c, const char *v)
{
    /* a message must not borrow the viewer's own sg- classes */
    size_t n = strlen(v), mark = c->out.n, wrote = 0;
    puts_(c, " class=\"");
    for (size_t i = 0; i < n;) {
        while (i < n &&
               (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\f' || v[i] == '\r'))
            i++;
        size_t b = i;
        while (i < n &&
               !(v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\f' || v[i] == '\r'))
            i++;
        if (i == b ||
            (i - b >= 3 && (v[b] | 0x20) == 's' && (v[b + 1] | 0x20) == 'g' && v[b + 2] == '-'))
            continue;
        if (wrote++)
            puts_(c, " ");
        put_escaped(c, v + b, i - b);
    }
    if (wrote)
        puts_(c, "\"");
    else if (c->err == 0)
        c->out.n = mark;
}

static void put_style_attr(ctx *c, const char *v)
{
    sgr_buf css = {.max = SGR_LINK_TARGET_MAX * 8};
    if (sgr_css_declarations(&css, v, strlen(v)) == 0 && css.n > 0)
        put_attr(c, "style", css.d, css.n);
    else if (css.nomem)
        c->err = SG_ENOMEM;
    free(css.d);
}

/* The allowed attributes of an element, except href (done by the caller). */
static void put_attrs(ctx *c, const GumboElement *e, int skip_class)
{
    for (unsigned i = 0; i < e->attributes.length; i++) {
        const GumboAttribute *at = e->attributes.data[i];
        const char *name = at->name;
        if (at->attr_namespace != GUMBO_ATTR_NAMESPACE_NONE) {
            c->r->attributes_dropped++;
        } else if (is_plain_attr(name)) {
            put_attr(c, name, at->value, strlen(at->value));
        } else if (!strcmp(name, "style")) {
            put_style_attr(c, at->value);
        } else if (!strcmp(name, "class")) {
            if (!skip_class)
                put_class(c, at->value);
        } else if (!strcmp(name, "src") && e->tag == GUMBO_TAG_IMG) {
            put_image_url(c, "src", at->value);
        } else if (!strcmp(name, "background") &&
                   (e->tag == GUMBO_TAG_TABLE || e->tag == GUMBO_TAG_TD || e->tag == GUMBO_TAG_TH ||
                    e->tag == GUMBO_TAG_TR)) {
            put_image_url(c, "background", at->value);
        } else if ((!strcmp(name, "usemap") && e->tag == GUMBO_TAG_IMG && at->value[0] == '#') ||
                   (!strcmp(name, "name") && e->tag == GUMBO_TAG_MAP)) {
            put_attr(c, name, at->value, strlen(at->value));
        } else if (strcmp(name, "href") != 0) {
            c->r->attributes_dropped++;
        }
    }
}

static int push(ctx *c, const GumboNode *node, int wrote, const sgr_link *inert)
{
    if (c->depth_n == c->depth_cap) {
        size_t nc = c->depth_cap ? c->depth_cap * 2 : 64;
        frame *s = realloc(c->stack, nc * sizeof(*s));
        if (s == NULL) {
            c->err = SG_ENOMEM;
            return -1;
        }
        c->stack = s;
        c->depth_cap = nc;
    }
    c->stack[c->depth_n++] = (frame){node, 0, (unsigned char)wrote, inert != NULL, inert};
    if (wrote)
        c->open_tags++;
    return 0;
}

/* Describes and lists an anchor's link; returns the link (NULL when the
 * anchor has no href) and whether it must be inert. */
static const sgr_link *take_link(ctx *c, const GumboNode *node, const char *href, int *inert,
                                 long *index)
{
    char text[SGR_LINK_TEXT_MAX];
    size_t tn = gather_text(node, text, sizeof text);
    sgr_link l;
    if (sgr_link_describe(&l, c->r->arena, c->o->psl, href, strlen(href), text, tn) != 0) {
        c->err = SG_ENOMEM;
        return NULL;
    }
    long idx = sgr_link_list_add(&c->r->links, c->r->arena, &l);
    if (idx < -1) {
        c->err = SG_ENOMEM;
        return NULL;
    }
    *index = idx;
    const sgr_link *stored = idx >= 0 ? &c->r->links.v[idx] : NULL;
    if (stored == NULL) {
        /* past the list's bound: shown, never navigable */
        sgr_link *copy = sg_arena_alloc(c->r->arena, sizeof(*copy));
        if (copy == NULL) {
            c->err = SG_ENOMEM;
            return NULL;
        }
        *copy = l;
        stored = copy;
    }
    *inert = idx < 0 || (l.flags & SGR_LINK_BLOCKED) || c->o->link_mode == SGR_LINKS_INERT;
    if (!*inert) {
        c->url[0] = '\0';
        if (c->o->link_href(c->url, c->url_cap, (size_t)idx, stored, c->o->payload) != 0)
            *inert = 1;
        c->url[c->url_cap - 1] = '\0';
    }
    return stored;
}

/* The inert link's real target, after its text. A message's stylesheet
 * cannot name sg- classes, but `span`, `*` or `[class*=target]` reach this
 * span too, and `float:left;width:0;height:0;overflow:hidden` hid it (the
 * link text alone stayed on screen). Every property the message's CSS may
 * set (css.c's list) that can move, shrink, hide or reorder an inline box
 * is pinned here: inline !important wins over any rule. And it is drawn
 * above everything else in the body (positioned, the highest z-index;
 * the message's CSS cannot position anything): a later box spilling over
 * it (a negative margin, an inline-block overflowing right to left, a zero
 * line-height under a large font) cannot paint a fake target on top
 * (adv17 F3). An ancestor that clips its content still clips this; the
 * viewer's link list outside the message frame shows every target
 * regardless. */
static const char inert_target_style[] =
    "display:inline !important;float:none !important;clear:none !important;"
    "position:relative !important;z-index:2147483647 !important;"
    "visibility:visible !important;opacity:1 !important;"
    "margin:0 !important;padding:0 !important;border:none !important;"
    "width:auto !important;height:auto !important;min-width:0 !important;"
    "min-height:0 !important;max-width:none !important;max-height:none !important;"
    "overflow:visible !important;vertical-align:baseline !important;"
    "font-style:normal !important;font-variant:normal !important;"
    "font-weight:normal !important;font-size:small !important;"
    "font-family:sans-serif !important;line-height:normal !important;"
    "letter-spacing:normal !important;word-spacing:normal !important;"
    "text-transform:none !important;text-decoration:none !important;"
    "text-indent:0 !important;white-space:normal !important;"
    "direction:ltr !important;unicode-bidi:isolate !important;"
    "color:#555 !important;background:#ffffe0 !important";

static void put_inert_target(ctx *c, const sgr_link *l)
{
    size_t n = strlen(l->target);
    puts_(c, "<span class=\"sg-link-target\" style=\"");
    puts_(c, inert_target_style);
    puts_(c, "\"> [");
    if (n > 300) {
        size_t k = 300;
        while (k > 0 && ((unsigned char)l->target[k] & 0xC0) == 0x80)
            k--;
        put_escaped(c, l->target, k);
        puts_(c, "\xE2\x80\xA6"); /* ... */
    } else {
        put_escaped(c, l->target, n);
    }
    puts_(c, "]</span>");
}

static void put_link_start(ctx *c, const char *tag, const GumboElement *e)
{
    puts_(c, "<");
    puts_(c, tag);
    put_attr(c, "href", c->url, strlen(c->url));
    puts_(c, " rel=\"noopener noreferrer\"");
    if (c->o->link_target != NULL)
        put_attr(c, "target", c->o->link_target, strlen(c->o->link_target));
}

static void put_style_element(ctx *c, const GumboNode *node)
{
    const GumboVector *ch = &node->v.element.children;
    sgr_buf css = {.max = c->out.max};
    for (unsigned i = 0; i < ch->length; i++) {
        const GumboNode *t = ch->data[i];
        if ((t->type == GUMBO_NODE_TEXT || t->type == GUMBO_NODE_WHITESPACE) &&
            sgr_css_stylesheet(&css, t->v.text.text, strlen(t->v.text.text)) != 0)
            break;
    }
    if (css.nomem)
        c->err = SG_ENOMEM;
    else if (css.n > 0 && memchr(css.d, '<', css.n) == NULL) {
        puts_(c, "<style>");
        put(c, css.d, css.n);
        puts_(c, "</style>");
    }
    free(css.d);
}

/* Writes or skips one node; element nodes whose content is walked are
 * pushed. */
static void enter(ctx *c, const GumboNode *node)
{
    switch (node->type) {
    case GUMBO_NODE_TEXT:
    case GUMBO_NODE_WHITESPACE:
        put_escaped(c, node->v.text.text, strlen(node->v.text.text));
        return;
    case GUMBO_NODE_ELEMENT:
        break;
    default: /* comments, CDATA (foreign only), template contents, document */
        return;
    }
    const GumboElement *e = &node->v.element;
    int action = e->tag <= GUMBO_TAG_LAST ? elem_action[e->tag] : UNWRAP;
    if (e->tag_namespace != GUMBO_NAMESPACE_HTML)
        action = DROP; /* SVG and MathML, whole: no namespace confusion */
    if (action == DROP) {
        c->r->elements_dropped++;
        return;
    }
    if (action == STYLE) {
        put_style_element(c, node);
        return;
    }
    if (action == KEEP && c->open_tags >= c->o->max_depth) {
        c->r->depth_limited = 1;
        action = UNWRAP;
    }
    if (action == UNWRAP) {
        push(c, node, 0, NULL);
        return;
    }
    const char *tag = gumbo_normalized_tagname(e->tag);
    if (e->tag == GUMBO_TAG_A || e->tag == GUMBO_TAG_AREA) {
        GumboAttribute *href = gumbo_get_attribute(&e->attributes, "href");
        if (href != NULL) {
            int inert = 1;
            long idx = -1;
            const sgr_link *l = take_link(c, node, href->value, &inert, &idx);
            if (l == NULL)
                return;
            if (!inert) {
                put_link_start(c, tag, e);
                put_attrs(c, e, 0);
                puts_(c, ">");
                if (e->tag == GUMBO_TAG_A)
                    push(c, node, 1, NULL);
                return;
            }
            if (e->tag == GUMBO_TAG_AREA) {
                /* an area has no text to show: it loses its href */
                puts_(c, "<area");
                put_attrs(c, e, 0);
                puts_(c, ">");
                return;
            }
            puts_(c, "<span class=\"sg-inert-link\"");
            put_attrs(c, e, 1);
            puts_(c, ">");
            push(c, node, 1, l);
            return;
        }
    }
    puts_(c, "<");
    puts_(c, tag);
    put_attrs(c, e, 0);
    puts_(c, ">");
    switch (e->tag) {
    case GUMBO_TAG_AREA:
    case GUMBO_TAG_BR:
    case GUMBO_TAG_COL:
    case GUMBO_TAG_HR:
    case GUMBO_TAG_IMG:
    case GUMBO_TAG_WBR:
        return; /* void elements */
    case GUMBO_TAG_PRE:
        /* the parser eats one newline after <pre>: give it one to eat */
        if (e->children.length > 0) {
            const GumboNode *t = e->children.data[0];
            if ((t->type == GUMBO_NODE_TEXT || t->type == GUMBO_NODE_WHITESPACE) &&
                t->v.text.text[0] == '\n')
                puts_(c, "\n");
        }
        break;
    default:
        break;
    }
    push(c, node, 1, NULL);
}

static void leave(ctx *c, const frame *f)
{
    const GumboElement *e = &f->node->v.element;
    if (!f->wrote)
        return;
    c->open_tags--;
    if (f->inert) {
        puts_(c, "</span>");
        put_inert_target(c, f->link);
        return;
    }
    puts_(c, "</");
    puts_(c, gumbo_normalized_tagname(e->tag));
    puts_(c, ">");
}

static void walk(ctx *c, const GumboNode *root)
{
    if (push(c, root, 0, NULL) != 0)
        return;
    while (c->depth_n > 0 && c->err == 0) {
        frame *f = &c->stack[c->depth_n - 1];
        const GumboVector *ch = f->node->type == GUMBO_NODE_DOCUMENT ? &f->node->v.document.children
                                                                     : &f->node->v.element.children;
        if (f->child < ch->length) {
            enter(c, ch->data[f->child++]);
            continue;
        }
        frame done = *f;
        c->depth_n--;
        if (done.node != root)
            leave(c, &done);
    }
}

/* ---- nesting pre-scan ------------------------------------------------------------ */

static int is_letter(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int tag_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* The most elements the input's tags can hold open at once, counted the
 * way the tokenizer sees tags: quoted attribute values and the text of
 * raw-text elements hide their '<', an end tag closes only a name that is
 * open, and void elements and elements whose end tag is implied (p, li,
 * td...) do not count. Stops counting past limit, and returns more than
 * limit for a tag with more than SGR_SANITIZE_MAX_ATTRS attributes. */
static size_t prescan_nesting(const char *s, size_t n, size_t limit)
{
    unsigned open[GUMBO_TAG_LAST + 1] = {0};
    size_t depth = 0, max = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '<' || i + 1 >= n)
            continue;
        if (s[i + 1] == '!') { /* comment or doctype */
            const char *e = NULL;
            if (i + 3 < n && s[i + 2] == '-' && s[i + 3] == '-') {
                for (size_t k = i + 4; k + 2 < n && e == NULL; k++)
                    if (s[k] == '-' && s[k + 1] == '-' && s[k + 2] == '>')
                        e = s + k + 2;
            } else {
                e = memchr(s + i, '>', n - i);
            }
            if (e == NULL)
                break;
            i = (size_t)(e - s);
            continue;
        }
        int end = s[i + 1] == '/';
        size_t b = i + 1 + end, e = b;
        if (e >= n || !is_letter((unsigned char)s[e]))
            continue;
        while (e < n && s[e] != '>' && s[e] != '/' && !tag_space(s[e]))
            e++;
        GumboTag t = gumbo_tagn_enum(s + b, (unsigned)(e - b));
        /* to the end of the tag, quotes respected (any quote, as before:
         * where the tag ends decides the nesting count), counting attribute
         * names about as the tokenizer reads them: a name after white
         * space, a '/' or a quoted value; after '=' (white space allowed
         * around it) a quoted value, or an unquoted one up to white space */
        enum { GAP, NAME, EQ, VALUE } st = GAP;
        char q = 0;
        size_t attrs = 0;
        for (; e < n && (q || s[e] != '>'); e++) {
            char c = s[e];
            if (q) {
                if (c == q) {
                    q = 0;
                    st = GAP;
                }
            } else if (tag_space(c)) {
                st = st == EQ ? EQ : GAP;
            } else if (c == '"' || c == '\'') {
                q = c;
            } else if (st == VALUE || (st == EQ && c != '=')) {
                st = VALUE;
            } else if (c == '=') {
                st = EQ;
            } else if (c == '/') {
                st = GAP;
            } else if (st == GAP) {
                if (++attrs > SGR_SANITIZE_MAX_ATTRS)
                    return limit + 1;
                st = NAME;
            }
        }
        i = e;
        switch (t) {
        case GUMBO_TAG_AREA:
        case GUMBO_TAG_BASE:
        case GUMBO_TAG_BR:
        case GUMBO_TAG_COL:
        case GUMBO_TAG_EMBED:
        case GUMBO_TAG_HR:
        case GUMBO_TAG_IMG:
        case GUMBO_TAG_INPUT:
        case GUMBO_TAG_LINK:
        case GUMBO_TAG_META:
        case GUMBO_TAG_PARAM:
        case GUMBO_TAG_SOURCE:
        case GUMBO_TAG_TRACK:
        case GUMBO_TAG_WBR:
        case GUMBO_TAG_P:
        case GUMBO_TAG_LI:
        case GUMBO_TAG_DT:
        case GUMBO_TAG_DD:
        case GUMBO_TAG_OPTION:
        case GUMBO_TAG_OPTGROUP:
        case GUMBO_TAG_TR:
        case GUMBO_TAG_TD:
        case GUMBO_TAG_TH:
        case GUMBO_TAG_TBODY:
        case GUMBO_TAG_THEAD:
        case GUMBO_TAG_TFOOT:
        case GUMBO_TAG_RT:
        case GUMBO_TAG_RP:
        case GUMBO_TAG_COLGROUP:
        case GUMBO_TAG_CAPTION:
        case GUMBO_TAG_HTML:
        case GUMBO_TAG_HEAD:
        case GUMBO_TAG_BODY:
        case GUMBO_TAG_IMAGE:
        case GUMBO_TAG_KEYGEN:
        case GUMBO_TAG_BGSOUND:
            continue;
        default:
            break;
        }
        if (end) {
            if (open[t] > 0) {
                open[t]--;
                depth--;
            }
            continue;
        }
        open[t]++;
        if (++depth > max && (max = depth) > limit)
            return max;
        /* raw text: no tags until the element's own end tag */
        if (t == GUMBO_TAG_SCRIPT || t == GUMBO_TAG_STYLE || t == GUMBO_TAG_TEXTAREA ||
            t == GUMBO_TAG_TITLE || t == GUMBO_TAG_XMP || t == GUMBO_TAG_IFRAME ||
            t == GUMBO_TAG_NOEMBED || t == GUMBO_TAG_NOFRAMES) {
            const char *name = gumbo_normalized_tagname(t);
            size_t nl = strlen(name), k;
            for (k = i + 1; k + 2 + nl <= n; k++)
                if (s[k] == '<' && s[k + 1] == '/' && strncasecmp(s + k + 2, name, nl) == 0)
                    break;
            i = k - 1;
        } else if (t == GUMBO_TAG_PLAINTEXT) {
            break;
        }
    }
    return max;
}

/* ---- public --------------------------------------------------------------------------- */

void sgr_sanitize_opts_init(sgr_sanitize_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->max_input = SGR_SANITIZE_MAX_INPUT;
    o->max_output = SGR_SANITIZE_MAX_OUTPUT;
    o->max_depth = SGR_SANITIZE_MAX_DEPTH;
    o->max_links = SGR_LINKS_MAX_DEFAULT;
    o->allow_data_images = 1;
    o->link_mode = SGR_LINKS_INTERSTITIAL;
}

void sgr_sanitize_result_free(sgr_sanitize_result *r)
{
    if (r == NULL)
        return;
    free(r->html);
    sg_arena_free(r->arena);
    memset(r, 0, sizeof(*r));
}

static int begin(ctx *c, sgr_sanitize_result *out, size_t len, const sgr_sanitize_opts *o)
{
    memset(out, 0, sizeof(*out));
    memset(c, 0, sizeof(*c));
    if (o == NULL || (o->link_mode == SGR_LINKS_INTERSTITIAL && o->link_href == NULL))
        return SG_EINVAL;
    if (len > o->max_input)
        return SG_ELIMIT;
    c->o = o;
    c->r = out;
    c->out.max = o->max_output;
    out->links.max = o->max_links ? o->max_links : SGR_LINKS_MAX_DEFAULT;
    if (sg_arena_new(&out->arena, 16384) != 0)
        return SG_ENOMEM;
    c->url_cap = URL_CAP;
    c->url = sg_arena_alloc(out->arena, c->url_cap);
    if (c->url == NULL)
        return SG_ENOMEM;
    return 0;
}

static int finish(ctx *c, sgr_sanitize_result *out)
{
    free(c->stack);
    if (c->err == 0 && sgr_buf_put(&c->out, "", 1) != 0)
        c->err = c->out.nomem ? SG_ENOMEM : SG_ELIMIT;
    if (c->err != 0) {
        free(c->out.d);
        sgr_sanitize_result_free(out);
        return c->err;
    }
    out->html = c->out.d;
    out->html_len = c->out.n - 1;
    return 0;
}

int sgr_sanitize_html(sgr_sanitize_result *out, const char *html, size_t len,
                      const sgr_sanitize_opts *o)
{
    ctx c;
    if (out == NULL || (html == NULL && len))
        return SG_EINVAL;
    int rc = begin(&c, out, len, o);
    if (rc != 0) {
        sgr_sanitize_result_free(out);
        return rc;
    }
    if (prescan_nesting(html, len, SGR_SANITIZE_MAX_NESTING) > SGR_SANITIZE_MAX_NESTING) {
        sgr_sanitize_result_free(out);
        return SG_ELIMIT;
    }
    sg_arena *ga = NULL;
    if (sg_arena_new(&ga, 1u << 16) != 0) {
        sgr_sanitize_result_free(out);
        return SG_ENOMEM;
    }
    GumboOptions go = kGumboDefaultOptions;
    go.allocator = gumbo_alloc;
    go.deallocator = gumbo_free;
    go.userdata = ga;
    go.max_errors = 0; /* we never read them; do not keep them */
    GumboOutput *g = gumbo_parse_with_options(&go, html ? html : "", len);
    walk(&c, g->document);
    /* not gumbo_destroy_output: it recurses over the tree's depth */
    sg_arena_free(ga);
    return finish(&c, out);
}

int sgr_text_to_html(sgr_sanitize_result *out, const char *text, size_t len,
                     const sgr_sanitize_opts *o)
{
    ctx c;
    if (out == NULL || (text == NULL && len))
        return SG_EINVAL;
    int rc = begin(&c, out, len, o);
    if (rc != 0) {
        sgr_sanitize_result_free(out);
        return rc;
    }
    puts_(&c, "<div style=\"white-space:pre-wrap\">");
    size_t off = 0, b, e;
    while (off < len && c.err == 0) {
        if (!sgr_text_next_url(text + off, len - off, &b, &e)) {
            put_escaped(&c, text + off, len - off);
            break;
        }
        put_escaped(&c, text + off, b);
        sgr_link_list one = {.max = 1};
        if (sgr_links_from_text(&one, out->arena, c.o->psl, text + off + b, e - b) != 0 ||
            one.n != 1) {
            c.err = c.err ? c.err : SG_ENOMEM;
            break;
        }
        const sgr_link *l = &one.v[0];
        long idx = sgr_link_list_add(&out->links, out->arena, l);
        if (idx < -1) {
            c.err = SG_ENOMEM;
            break;
        }
        int inert = idx < 0 || (l->flags & SGR_LINK_BLOCKED) || o->link_mode == SGR_LINKS_INERT;
        if (!inert) {
            c.url[0] = '\0';
            if (o->link_href(c.url, c.url_cap, (size_t)idx, &out->links.v[idx], o->payload) != 0)
                inert = 1;
            c.url[c.url_cap - 1] = '\0';
        }
        if (inert) {
            /* the URL is already the text: it stays text */
            puts_(&c, "<span class=\"sg-inert-link\">");
            put_escaped(&c, text + off + b, e - b);
            puts_(&c, "</span>");
        } else {
            put_link_start(&c, "a", NULL);
            puts_(&c, ">");
            put_escaped(&c, text + off + b, e - b);
            puts_(&c, "</a>");
        }
        off += e;
    }
    puts_(&c, "</div>");
    return finish(&c, out);
}
