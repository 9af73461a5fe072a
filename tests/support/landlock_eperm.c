/*
 * landlock_eperm CMD [ARG...]: run CMD with the landlock system calls
 * answering EPERM and every other call allowed, as systemd 252's
 * SystemCallFilter=@system-service with SystemCallErrorNumber=EPERM did
 * (those calls are in no group but @known; adv36 F1). The filter is
 * loaded before the exec, so CMD and everything it forks inherit it.
 *   cc -o landlock_eperm landlock_eperm.c -lseccomp
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    static const char *const calls[] = {"landlock_create_ruleset", "landlock_add_rule",
                                        "landlock_restrict_self"};
    if (argc < 2) {
        fprintf(stderr, "usage: landlock_eperm CMD [ARG...]\n");
        return 2;
    }
    /* libseccomp sets no_new_privs first (SCMP_FLTATR_CTL_NNP): needed
     * to load a filter without CAP_SYS_ADMIN */
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
    int rc = f == NULL ? -ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < sizeof(calls) / sizeof(*calls); i++) {
        int nr = seccomp_syscall_resolve_name(calls[i]);
        rc = nr == __NR_SCMP_ERROR ? -ENOSYS : seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
    if (rc == 0)
        rc = seccomp_load(f);
    if (f != NULL)
        seccomp_release(f);
    if (rc != 0) {
        fprintf(stderr, "landlock_eperm: seccomp: %s\n", strerror(-rc));
        return 1;
    }
    execv(argv[1], argv + 1);
    fprintf(stderr, "landlock_eperm: %s: %s\n", argv[1], strerror(errno));
    return 1;
}
