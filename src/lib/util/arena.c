/*
 * Bump allocator. Chunks are linked newest-first; an allocation larger
 * than the chunk size gets a chunk of its own so big objects never waste
 * the tail of a shared chunk.
 */
#include <spoofguard/arena.h>

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

struct chunk {
    struct chunk *next;
    size_t size; /* usable bytes in data[] */
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

struct sg_arena {
    struct chunk *head;
    size_t chunk_size;
    size_t total;
};

#define ALIGN_UP(n) (((n) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1))

static struct chunk *chunk_new(size_t size)
{
    struct chunk *c = malloc(sizeof(*c) + size);
    if (c == NULL)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

int sg_arena_new(sg_arena **out, size_t chunk_size)
{
    sg_arena *a;
    if (out == NULL)
        return SG_EINVAL;
    *out = NULL;
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return SG_ENOMEM;
    a->chunk_size = chunk_size ? ALIGN_UP(chunk_size) : 4096;
    *out = a;
    return SG_OK;
}

void sg_arena_free(sg_arena *a)
{
    struct chunk *c, *n;
    if (a == NULL)
        return;
    for (c = a->head; c != NULL; c = n) {
        n = c->next;
        free(c);
    }
    free(a);
}

void sg_arena_reset(sg_arena *a)
{
    struct chunk *c, *n, *keep = NULL;
    if (a == NULL)
        return;
    for (c = a->head; c != NULL; c = n) {
        n = c->next;
        if (keep == NULL && c->size == a->chunk_size) {
            keep = c;
            keep->next = NULL;
            keep->used = 0;
        } else {
            free(c);
        }
    }
    a->head = keep;
    a->total = 0;
}

void *sg_arena_alloc(sg_arena *a, size_t n)
{
    struct chunk *c;
    size_t need;
    if (a == NULL)
        return NULL;
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX / 2)
        return NULL;
    need = ALIGN_UP(n);
    c = a->head;
    if (c == NULL || c->size - c->used < need) {
        if (need > a->chunk_size / 4) {
            /* Big object: own chunk, linked behind the current one so the
             * current chunk's free tail stays usable. */
            struct chunk *big = chunk_new(need);
            if (big == NULL)
                return NULL;
            big->used = need;
            if (c != NULL) {
                big->next = c->next;
                c->next = big;
            } else {
                a->head = big;
            }
            a->total += need;
            return big->data;
        }
        c = chunk_new(a->chunk_size);
        if (c == NULL)
            return NULL;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += need;
    a->total += need;
    return p;
}

void *sg_arena_calloc(sg_arena *a, size_t count, size_t size)
{
    void *p;
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    p = sg_arena_alloc(a, count * size);
    if (p != NULL)
        memset(p, 0, count * size);
    return p;
}

char *sg_arena_strndup(sg_arena *a, const char *s, size_t n)
{
    char *p;
    if (n == SIZE_MAX)
        return NULL;
    p = sg_arena_alloc(a, n + 1);
    if (p == NULL)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *sg_arena_strdup(sg_arena *a, const char *s)
{
    return sg_arena_strndup(a, s, strlen(s));
}

size_t sg_arena_used(const sg_arena *a)
{
    return a ? a->total : 0;
}
