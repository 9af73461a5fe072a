/*
 * Internal to the sanitizer: a bounded output buffer and the CSS filter.
 */
#ifndef SG_READER_CSS_H
#define SG_READER_CSS_H

#include <stddef.h>

/* Growable output with a hard cap: past max, put() fails and overflow is
 * set (the caller turns that into SG_ELIMIT). */
typedef struct {
    char *d;
    size_t n, cap, max;
    int overflow, nomem;
} sgr_buf;

int sgr_buf_put(sgr_buf *b, const char *s, size_t n);
int sgr_buf_puts(sgr_buf *b, const char *s);

/* Appends the declarations of a style attribute value that pass the
 * allow-list ("color:red;font-size:12px;"): known properties only, values
 * made of keywords, numbers, colours, quoted font names and rgb()/hsl()/
 * calc(); no url(), expression(), escapes, at-rules or comments survive.
 * Returns 0 or -1 when out is full. */
int sgr_css_declarations(sgr_buf *out, const char *s, size_t n);

/* The same for a <style> element's text: rules whose selectors use plain
 * selector syntax, each with its filtered declarations; every at-rule
 * (@import, @font-face, @media...) is dropped whole. The output holds no
 * '<', so it cannot close the <style> element early. */
int sgr_css_stylesheet(sgr_buf *out, const char *s, size_t n);

#endif
