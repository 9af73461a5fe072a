/*
 * The main of a command's helper program (spoofguard-NAME in
 * LIBEXECDIR/spoofguard): `spoofguard NAME ...` execs it with the
 * command's own argument vector, argv[0] being NAME, as the command's
 * function gets it inside `spoofguard` (src/cli/main.c).
 */
#include "cli.h"

int SG_HELPER_FN(int argc, char **argv);

int main(int argc, char **argv)
{
    int rc = sg_cli_wants_help(argc, argv) ? 0 : sg_cli_start("spoofguard");
    return sg_cli_end("spoofguard", rc != 0 ? rc : SG_HELPER_FN(argc, argv));
}
