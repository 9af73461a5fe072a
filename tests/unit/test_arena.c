#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include <spoofguard/arena.h>

static void alloc_aligned_and_distinct(void **state)
{
    sg_arena *a;
    assert_int_equal(sg_arena_new(&a, 64), SG_OK);
    char *p = sg_arena_alloc(a, 3);
    char *q = sg_arena_alloc(a, 3);
    assert_non_null(p);
    assert_non_null(q);
    assert_true(p != q);
    assert_int_equal(((uintptr_t)q) % _Alignof(max_align_t), 0);
    /* an object bigger than a chunk gets a chunk of its own */
    char *big = sg_arena_alloc(a, 10000);
    assert_non_null(big);
    memset(big, 'x', 10000);
    char *s = sg_arena_strndup(a, "hello world", 5);
    assert_string_equal(s, "hello");
    assert_true(sg_arena_used(a) >= 10000 + 5);
    sg_arena_reset(a);
    assert_int_equal(sg_arena_used(a), 0);
    assert_non_null(sg_arena_calloc(a, 10, 10));
    assert_null(sg_arena_calloc(a, SIZE_MAX / 2, 4));
    sg_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alloc_aligned_and_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
