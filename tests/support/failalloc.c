/*
 * An LD_PRELOAD allocator that fails one allocation on purpose, for
 * tests/scripts/alloc_failure.sh: a failed allocation must end in an error
 * or a temporary answer, never in a result the input did not earn.
 *
 *   SG_FAIL_AT=N     the Nth allocation after main() starts returns NULL
 *   SG_FAIL_EVERY=P  and every Pth after it
 *   SG_FAIL_MIN=B    count only allocations of at least B bytes
 *   SG_FAIL_ARM=accept  count from the first connection accepted, not from
 *                    main(): a daemon's start-up is not what is tested
 *   SG_FAIL_COUNT=F  at exit, write how many allocations main() made to F
 *
 * Counted: malloc, calloc, realloc (OpenSSL's CRYPTO_malloc goes through
 * malloc). Allocations before main() (the loader, constructors) are not.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_long count;
static long fail_at = -1, fail_every;
static size_t fail_min;
static int counting, arm_at_accept;
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static int (*real_main)(int, char **, char **);

/* dlsym's own calloc, before real_calloc is known */
static char boot[4096];
static size_t boot_used;

/* a place for a debugger's breakpoint: the failure being made */
__attribute__((noinline)) void sg_failalloc_hit(void)
{
    __asm__ volatile("");
}

static int fail_now(size_t size)
{
    long n;
    if (!counting || size < fail_min || (n = atomic_fetch_add(&count, 1) + 1) < fail_at ||
        fail_at < 1)
        return 0;
    if (n != fail_at && (fail_every < 1 || (n - fail_at) % fail_every != 0))
        return 0;
    sg_failalloc_hit();
    return 1;
}

void *malloc(size_t n)
{
    if (real_malloc == NULL)
        real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    if (fail_now(n)) {
        errno = ENOMEM;
        return NULL;
    }
    return real_malloc(n);
}

void *calloc(size_t k, size_t n)
{
    if (real_calloc == NULL) {
        static int resolving;
        if (resolving) { /* dlsym asking for memory while it finds calloc */
            size_t want = (k * n + 15) & ~(size_t)15;
            if (boot_used + want > sizeof(boot))
                return NULL;
            boot_used += want;
            return boot + boot_used - want;
        }
        resolving = 1;
        real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
        resolving = 0;
    }
    if (fail_now(k * n)) {
        errno = ENOMEM;
        return NULL;
    }
    return real_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
    if (real_realloc == NULL)
        real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    if (fail_now(n)) {
        errno = ENOMEM;
        return NULL;
    }
    return real_realloc(p, n);
}

void free(void *p)
{
    static void (*real_free)(void *);
    if (p >= (void *)boot && p < (void *)(boot + sizeof(boot)))
        return;
    if (real_free == NULL)
        real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    real_free(p);
}

static void write_count(void)
{
    const char *f = getenv("SG_FAIL_COUNT");
    FILE *o;
    counting = 0;
    if (f != NULL && (o = fopen(f, "w")) != NULL) {
        fprintf(o, "%ld\n", (long)atomic_load(&count));
        fclose(o);
    }
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);
    if (real_accept4 == NULL)
        real_accept4 =
            (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
    int c = real_accept4(fd, addr, len, flags);
    if (c >= 0 && arm_at_accept) {
        arm_at_accept = 0;
        counting = 1;
    }
    return c;
}

static int wrapped_main(int argc, char **argv, char **envp)
{
    const char *at = getenv("SG_FAIL_AT"), *every = getenv("SG_FAIL_EVERY");
    const char *arm = getenv("SG_FAIL_ARM"), *min = getenv("SG_FAIL_MIN");
    if (min != NULL)
        fail_min = (size_t)strtoul(min, NULL, 10);
    if (at != NULL)
        fail_at = strtol(at, NULL, 10);
    if (every != NULL)
        fail_every = strtol(every, NULL, 10);
    atexit(write_count);
    arm_at_accept = arm != NULL && strcmp(arm, "accept") == 0;
    counting = !arm_at_accept;
    return real_main(argc, argv, envp);
}

int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv, void (*init)(void),
                      void (*fini)(void), void (*rtld_fini)(void), void *stack)
{
    int (*real)(int (*)(int, char **, char **), int, char **, void (*)(void), void (*)(void),
                void (*)(void), void *) = dlsym(RTLD_NEXT, "__libc_start_main");
    real_main = main;
    return real(wrapped_main, argc, argv, init, fini, rtld_fini, stack);
}
