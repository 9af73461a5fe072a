/*
 * spoofguard/arena.h - a per-message (or per-check) bump allocator.
 *
 * Everything one message or one check needs is allocated from an arena and
 * freed at once with sg_arena_free(): no per-object frees, no leaks on
 * error paths. Not thread-safe; one arena belongs to one owner.
 */
#ifndef SPOOFGUARD_ARENA_H
#define SPOOFGUARD_ARENA_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sg_arena sg_arena;

/* Create an arena whose chunks are at least chunk_size bytes (0: 4 KiB). */
SG_EXTERN int sg_arena_new(sg_arena **out, size_t chunk_size);
/* Free every allocation and the arena itself. NULL is a no-op. */
SG_EXTERN void sg_arena_free(sg_arena *a);
/* Drop every allocation but keep the first chunk for reuse. */
SG_EXTERN void sg_arena_reset(sg_arena *a);

/* Aligned (max_align_t) allocation; NULL on out-of-memory. */
SG_EXTERN void *sg_arena_alloc(sg_arena *a, size_t n);
SG_EXTERN void *sg_arena_calloc(sg_arena *a, size_t count, size_t size);
/* Copy of n bytes plus a terminating NUL. */
SG_EXTERN char *sg_arena_strndup(sg_arena *a, const char *s, size_t n);
SG_EXTERN char *sg_arena_strdup(sg_arena *a, const char *s);
/* Bytes handed out so far (for limits and reporting). */
SG_EXTERN size_t sg_arena_used(const sg_arena *a);

#ifdef __cplusplus
}
#endif
#endif
