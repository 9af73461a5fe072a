#!/usr/bin/env bash
# The main job on embedded defaults: install, build, then check the sample
# messages in samples/ against the bundled sample zone (no network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >/dev/null
bash scripts/build.sh >/dev/null
sg=build/spoofguard
zone=samples/sample.zone
echo
echo "spoofguard $($sg --version | awk '{print $2}'): checking the samples against $zone"
while IFS=$'\t' read -r file ip helo from what; do
    case "$file" in '#'*|'') continue ;; esac
    echo
    echo "== $file: $what"
    echo "   connection: client $ip, HELO $helo, MAIL FROM <$from>"
    $sg verify --zone "$zone" --authserv-id mx.customer.example \
        --ip "$ip" --helo "$helo" --mail-from "$from" "samples/$file" | sed 's/^/   /'
done < samples/manifest.tsv
