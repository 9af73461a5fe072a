#!/usr/bin/env bash
# Every public header compiles on its own, as C11 and as C++, with strict
# warnings: a user includes one header, never a particular order of them.
# And the library exports only sg_* symbols, each listed in the Debian
# symbols file (a symbol missing there breaks the package's dependencies),
# and its static archive defines no global name outside sg_.
set -u
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$(mktemp -d /tmp/sg-headers.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
for h in "$SRC"/include/spoofguard/*.h; do
    name=$(basename "$h")
    printf '#include <spoofguard/%s>\n#include <spoofguard/%s>\nint main(void){return 0;}\n' "$name" "$name" > "$T/t.c"
    if cc -std=c11 -Wall -Wextra -Werror -pedantic -I"$SRC/include" -c "$T/t.c" -o "$T/t.o" 2> "$T/err"; then
        pass=$((pass + 1))
    else
        echo "FAIL $name alone (C11):"; cat "$T/err"; fail=$((fail + 1))
    fi
    cp "$T/t.c" "$T/t.cc"
    if c++ -std=c++17 -Wall -Wextra -Werror -I"$SRC/include" -c "$T/t.cc" -o "$T/t.o" 2> "$T/err"; then
        pass=$((pass + 1))
    else
        echo "FAIL $name alone (C++):"; cat "$T/err"; fail=$((fail + 1))
    fi
done
lib=$(dirname "${SG_CLI:-}")/libspoofguard.so
if [ -f "$lib" ]; then
    bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ {print $3}' | grep -v '^sg_' | grep -v '^_' || true)
    if [ -z "$bad" ]; then pass=$((pass + 1)); else echo "FAIL exported non-sg_ symbols: $bad"; fail=$((fail + 1)); fi
    syms=$SRC/debian/libspoofguard0.symbols
    if [ -f "$syms" ]; then
        nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ && $3 ~ /^sg_/ {print $3}' | sort -u > "$T/exported"
        sed -n 's/^ \(sg_[A-Za-z0-9_]*\)@.*/\1/p' "$syms" | sort -u > "$T/listed"
        missing=$(comm -23 "$T/exported" "$T/listed" | tr '\n' ' ')
        gone=$(comm -13 "$T/exported" "$T/listed" | tr '\n' ' ')
        if [ -z "$missing$gone" ]; then pass=$((pass + 1)); else
            echo "FAIL debian/libspoofguard0.symbols: not listed: ${missing:-none}; listed but not exported: ${gone:-none}"
            fail=$((fail + 1))
        fi
    fi
fi
# the static archive hides nothing: every global name it defines is one
# an embedder's own code can collide with, so each is sg_ (adv44 F5: 16
# ob_* helpers, ob_hash among them, broke a static link); names the
# compiler and its sanitizers make (__odr_asan.*) are the reserved _
alib=$(dirname "${SG_CLI:-}")/libspoofguard.a
if [ -f "$alib" ]; then
    bad=$(nm -g --defined-only "$alib" 2>/dev/null | awk 'NF == 3 {print $3}' | grep -v '^sg_' | grep -v '^_' | sort -u)
    if [ -z "$bad" ]; then pass=$((pass + 1)); else
        echo "FAIL libspoofguard.a defines non-sg_ names: $(echo $bad)"
        fail=$((fail + 1))
    fi
else
    echo "FAIL no libspoofguard.a beside ${SG_CLI:-}"
    fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[ $fail = 0 ]
