/*
 * The sanitizer's security invariant, checked the way an attacker would
 * need it to fail: re-parse the sanitized output with an HTML5 parser (the
 * tree a browser builds from it) and walk every node. Shared by
 * tests/unit/test_sanitize.c (the XSS corpus) and fuzz/fuzz_sanitize.c.
 *
 * This is an independent deny-list oracle, not a copy of the sanitizer's
 * allow-list: whatever the sanitizer keeps, none of these may appear.
 * Links must be the test's interstitial form (/link/T/N), images the test's
 * cid form (/cid/...), a raster data:image, or http(s) only when remote
 * images were allowed.
 */
#ifndef SG_TEST_XSS_CHECK_H
#define SG_TEST_XSS_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gumbo.h>

static const GumboTag xss_denied_tags[] = {
    GUMBO_TAG_SCRIPT,   GUMBO_TAG_IFRAME,    GUMBO_TAG_FRAME,    GUMBO_TAG_FRAMESET,
    GUMBO_TAG_OBJECT,   GUMBO_TAG_EMBED,     GUMBO_TAG_APPLET,   GUMBO_TAG_PARAM,
    GUMBO_TAG_FORM,     GUMBO_TAG_INPUT,     GUMBO_TAG_BUTTON,   GUMBO_TAG_TEXTAREA,
    GUMBO_TAG_SELECT,   GUMBO_TAG_OPTION,    GUMBO_TAG_KEYGEN,   GUMBO_TAG_ISINDEX,
    GUMBO_TAG_META,     GUMBO_TAG_BASE,      GUMBO_TAG_LINK,     GUMBO_TAG_NOSCRIPT,
    GUMBO_TAG_TEMPLATE, GUMBO_TAG_SVG,       GUMBO_TAG_MATH,     GUMBO_TAG_AUDIO,
    GUMBO_TAG_VIDEO,    GUMBO_TAG_SOURCE,    GUMBO_TAG_TRACK,    GUMBO_TAG_CANVAS,
    GUMBO_TAG_XMP,      GUMBO_TAG_PLAINTEXT, GUMBO_TAG_NOEMBED,  GUMBO_TAG_NOFRAMES,
    GUMBO_TAG_BGSOUND,  GUMBO_TAG_TITLE,     GUMBO_TAG_MARQUEE,  GUMBO_TAG_UNKNOWN,
    GUMBO_TAG_MENUITEM, GUMBO_TAG_DATALIST,  GUMBO_TAG_OPTGROUP, GUMBO_TAG_OUTPUT,
};

/* Attributes that carry a URL or code, or change how the document loads. */
static const char *const xss_denied_attrs[] = {
    "srcdoc",
    "formaction",
    "action",
    "srcset",
    "poster",
    "data",
    "codebase",
    "classid",
    "dynsrc",
    "lowsrc",
    "ping",
    "longdesc",
    "manifest",
    "xlink:href",
    "xmlns",
    "is",
    "http-equiv",
    "content",
    "archive",
    "profile",
    "cite",
    "form",
    "contenteditable",
    "xml:base",
    "autofocus",
    "itemtype",
    "nonce",
    "slot",
};

static int xss_css_bad(const char *s)
{
    static const char *const bad[] = {"url(",    "expression", "@import",    "\\", "behavior",
                                      "binding", "javascript", "image-set(", "<",  "@font-face",
                                      "var(",    "attr(",      "element("};
    size_t n = strlen(s), k = 0;
    char *t = malloc(n + 1);
    if (t == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' && s[i] != '\f')
            t[k++] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
    t[k] = '\0';
    int r = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0] && !r; i++)
        r = strstr(t, bad[i]) != NULL;
    free(t);
    return r;
}

static int xss_prefix_ci(const char *s, const char *p)
{
    for (; *p; s++, p++)
        if (*s == '\0' || ((*s >= 'A' && *s <= 'Z') ? *s + 32 : *s) != *p)
            return 0;
    return 1;
}

static int xss_image_ok(const char *v, int allow_remote)
{
    static const char *const data[] = {"data:image/png;base64,", "data:image/gif;base64,",
                                       "data:image/jpeg;base64,", "data:image/jpg;base64,",
                                       "data:image/webp;base64,"};
    if (strncmp(v, "/cid/", 5) == 0)
        return 1;
    if (allow_remote && (strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0))
        return 1;
    for (size_t i = 0; i < sizeof data / sizeof data[0]; i++)
        if (xss_prefix_ci(v, data[i])) {
            for (const char *p = v + strlen(data[i]); *p; p++)
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                      (*p >= '0' && *p <= '9') || *p == '+' || *p == '/' || *p == '='))
                    return 0;
            return 1;
        }
    return 0;
}

/* Why one element is not inert, or NULL. */
static const char *xss_element_bad(const GumboNode *node, int allow_remote, char *why, size_t cap)
{
    const GumboElement *e = &node->v.element;
    if (e->tag_namespace != GUMBO_NAMESPACE_HTML)
        return "foreign (SVG/MathML) element";
    for (size_t i = 0; i < sizeof xss_denied_tags / sizeof xss_denied_tags[0]; i++)
        if (e->tag == xss_denied_tags[i]) {
            snprintf(why, cap, "element <%s>",
                     e->tag == GUMBO_TAG_UNKNOWN ? "unknown" : gumbo_normalized_tagname(e->tag));
            return why;
        }
    if (e->tag == GUMBO_TAG_STYLE) {
        for (unsigned i = 0; i < e->children.length; i++) {
            const GumboNode *t = e->children.data[i];
            if (t->type == GUMBO_NODE_TEXT && xss_css_bad(t->v.text.text))
                return "dangerous CSS in <style>";
        }
    }
    for (unsigned i = 0; i < e->attributes.length; i++) {
        const GumboAttribute *a = e->attributes.data[i];
        const char *n = a->name, *v = a->value;
        if (a->attr_namespace != GUMBO_ATTR_NAMESPACE_NONE)
            return "namespaced attribute";
        if ((n[0] == 'o' || n[0] == 'O') && (n[1] == 'n' || n[1] == 'N')) {
            snprintf(why, cap, "event handler attribute %s", n);
            return why;
        }
        for (size_t k = 0; k < sizeof xss_denied_attrs / sizeof xss_denied_attrs[0]; k++)
            if (strcmp(n, xss_denied_attrs[k]) == 0) {
                snprintf(why, cap, "attribute %s", n);
                return why;
            }
        if (strcmp(n, "href") == 0 && strncmp(v, "/link/T/", 8) != 0) {
            snprintf(why, cap, "href not the interstitial: %.60s", v);
            return why;
        }
        if ((strcmp(n, "src") == 0 || strcmp(n, "background") == 0) &&
            !xss_image_ok(v, allow_remote)) {
            snprintf(why, cap, "%s not allowed: %.60s", n, v);
            return why;
        }
        if (strcmp(n, "usemap") == 0 && v[0] != '#')
            return "usemap not a fragment";
        if (strcmp(n, "style") == 0 && xss_css_bad(v)) {
            snprintf(why, cap, "dangerous style attribute: %.80s", v);
            return why;
        }
    }
    return NULL;
}

/* NULL when html[0..n), embedded in a document's body as the viewer
 * embeds it, parses into an inert tree; otherwise why not (in why). */
static const char *xss_check(const char *html, size_t n, int allow_remote, char *why, size_t cap)
{
    static const char prefix[] = "<!DOCTYPE html><html><head><meta charset=utf-8></head><body>";
    size_t pn = sizeof prefix - 1;
    char *doc = malloc(pn + n + 1);
    const char *bad = NULL;
    if (doc == NULL)
        abort();
    memcpy(doc, prefix, pn);
    memcpy(doc + pn, html, n);
    doc[pn + n] = '\0';
    GumboOutput *g = gumbo_parse_with_options(&kGumboDefaultOptions, doc, pn + n);
    /* walk by parent pointers: no recursion */
    const GumboNode *root = g->document, *node = root;
    unsigned skip_meta = 1; /* the one <meta charset> of our prefix */
    for (;;) {
        int descend = 0;
        if (node->type == GUMBO_NODE_ELEMENT) {
            if (skip_meta && node->v.element.tag == GUMBO_TAG_META) {
                skip_meta = 0;
            } else if ((bad = xss_element_bad(node, allow_remote, why, cap)) != NULL) {
                break;
            }
            descend = node->v.element.children.length > 0;
        } else if (node->type == GUMBO_NODE_TEMPLATE) {
            bad = "template";
            break;
        } else if (node->type == GUMBO_NODE_DOCUMENT) {
            descend = node->v.document.children.length > 0;
        }
        if (descend) {
            node = node->type == GUMBO_NODE_DOCUMENT ? node->v.document.children.data[0]
                                                     : node->v.element.children.data[0];
            continue;
        }
        while (node != root) {
            const GumboNode *p = node->parent;
            const GumboVector *ch =
                p->type == GUMBO_NODE_DOCUMENT ? &p->v.document.children : &p->v.element.children;
            size_t i = node->index_within_parent + 1;
            if (i < ch->length) {
                node = ch->data[i];
                break;
            }
            node = p;
        }
        if (node == root)
            break;
    }
    gumbo_destroy_output(&kGumboDefaultOptions, g);
    free(doc);
    return bad;
}

#endif
