#!/usr/bin/env bash
# The library's answers do not depend on the process's locale (adv44 F1):
# under tr_TR (tolower('I') is not 'i'; in ISO-8859-9 it is dotless i) a
# genuine message's DKIM failed, a signature left Message-ID out of h=,
# and an unsigned MIME-VERSION added on top of a signed message went
# unseen; under de_DE the outbound engine read "0.5" as 0 and wrote
# "1,50" into JSON.
#  1. src/lib calls none of libc's locale-dependent case, class or number
#     functions (strcasecmp, tolower, isalpha, strtod, printf's %f...):
#     util/ascii.h instead;
#  2. tests/support/locale_check (the verdict on samples/messages, a
#     signature and its tampered copy, the public helpers, the outbound
#     policy and account JSON) answers byte for byte as in the C locale
#     under tr_TR.UTF-8, tr_TR.ISO-8859-9 and de_DE.UTF-8, made here with
#     localedef (Debian's locales package) into a private LOCPATH.
set -uo pipefail
SG_SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CHECK=${SG_LOCALE_CHECK:-$SG_SRC/build/locale_check}
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

# 1. the lint: the library's object code calls none of them (nm -u of the
# static archive: no comment or line shape hides a call, rev26 R26-5),
# and no format string of src/lib writes a float (printf's %f follows
# LC_NUMERIC; nm cannot see which snprintf). strtol and atoi stay: glibc
# reads only ASCII digits there whatever the locale (the ASan build keeps
# an atoi the optimiser folds into strtol)
ALIB=$(dirname "${SG_CLI:-$SG_SRC/build/spoofguard}")/libspoofguard.a
if [ -f "$ALIB" ]; then
    calls=$(nm -u "$ALIB" 2>/dev/null | awk '{print $NF}' | sed 's/@.*//' | sort -u |
        grep -xE 'str(n)?casecmp|strcasestr|tolower|toupper|__ctype_(b|tolower|toupper)_loc|is(alpha|alnum|upper|lower|space|digit|xdigit|print|punct|graph|cntrl|blank)|strto(d|f|ld)|__strto[dfl]_internal|atof|strcoll|strxfrm|strftime|setlocale|localeconv|nl_langinfo')
else
    calls="no $ALIB"
fi
fmt=$(cd "$SG_SRC" && grep -rnE '"[^"]*%[-+ #0]*[0-9*]*(\.[0-9*]+)?[lLhjzt]*[fFgGeEaA][^"]*"' src/lib --include='*.[ch]' |
    grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\* )')
[ -z "$calls" ] && [ -z "$fmt" ] && ok "src/lib calls no locale-dependent libc case, class or number function" ||
    bad "locale-dependent calls in src/lib (use util/ascii.h, integers): $(echo $calls) $fmt"

# 2. the answers under other locales
[ -x "$CHECK" ] || { bad "no locale_check at $CHECK"; echo "$pass passed, $fail failed"; exit 1; }
command -v localedef >/dev/null && [ -e /usr/share/i18n/locales/tr_TR ] || {
    echo "SKIPPED: localedef or the locale sources missing (Debian's locales package)"
    exit 77
}
T=$(mktemp -d "${TMPDIR:-/tmp}/sg-locale.XXXXXX")
trap 'rm -rf "$T"' EXIT
made=()
for l in tr_TR.UTF-8:tr_TR:UTF-8 tr_TR.ISO-8859-9:tr_TR:ISO-8859-9 de_DE.UTF-8:de_DE:UTF-8; do
    IFS=: read -r name src charset <<<"$l"
    if localedef -i "$src" -f "$charset" "$T/$name" 2>"$T/localedef.err" || [ -e "$T/$name/LC_CTYPE" ]; then
        made+=("$name")
    else
        bad "localedef $name: $(tail -n2 "$T/localedef.err")"
    fi
done
# the client is outside SPF: DKIM decides (samples/manifest.tsv's messages)
out=$(LOCPATH=$T "$CHECK" "$SG_SRC/samples/sample.zone" 1795949100 \
    "$SG_SRC"/samples/messages/*.eml -- "${made[@]}" 2>&1)
rc=$?
echo "$out"
n=$(grep -c '^PASS' <<<"$out")
[ $rc = 0 ] && [ "$n" = ${#made[@]} ] && [ "$n" = 3 ] && ok "the same answers under ${made[*]}" ||
    bad "locale_check: rc $rc, $n of ${#made[@]} locales alike"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
