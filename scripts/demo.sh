#!/usr/bin/env bash
# The main job: install, build, then
#  1. spoofguardd live: a private Postfix and DNS server on loopback with
#     spoofguardd as the milter, a handful of messages, what happened to each
#     (scripts/demo-mail.sh), everything stopped afterwards;
#  2. the same checks offline: spoofguard verify on the sample messages in
#     samples/ against the bundled sample zone.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >/dev/null
bash scripts/build.sh >/dev/null
bash scripts/demo-mail.sh

sg=build/spoofguard
zone=samples/sample.zone
echo
echo "The CLI, offline: spoofguard verify on samples/ against $zone"
while IFS=$'\t' read -r file ip helo from what; do
    case "$file" in '#'*|'') continue ;; esac
    echo
    echo "== $file: $what"
    echo "   connection: client $ip, HELO $helo, MAIL FROM <$from>"
    $sg verify --zone "$zone" --authserv-id mx.customer.example \
        --ip "$ip" --helo "$helo" --mail-from "$from" "samples/$file" | sed 's/^/   /'
done < samples/manifest.tsv
