#!/usr/bin/env bash
# spoofguard-view in headless Chromium (tests/browser/viewer_browser.py): log in, headlines, warnings,
# inert links, the interstitial, an XSS message that must run nothing, remote images not fetched.
# The packages (chromium, chromium-driver, python3-selenium) are always installed by
# scripts/install-deps.sh: missing ones FAIL this test, they never skip it.
# Env: SG_CLI, SG_SRC (ctest); SG_VIEW (default: spoofguard-view beside SG_CLI); SG_VIEWER_PORT (default:
# a free port); SG_UPDATE_SCREENSHOTS=1 writes the screenshots into docs/viewer/ (else a temp dir).
set -u
CLI=${SG_CLI:?SG_CLI must point at the spoofguard binary}
SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
VIEW=${SG_VIEW:-$(dirname "$CLI")/spoofguard-view}
T=$(mktemp -d /tmp/sg-viewer-browser.XXXXXX)
trap 'rm -rf "$T"' EXIT
missing=0
for f in /usr/bin/chromium /usr/bin/chromedriver "$VIEW"; do
    [ -x "$f" ] || { echo "FAIL $f is missing (scripts/install-deps.sh installs chromium and chromium-driver; the viewer is built with the tree)"; missing=$((missing + 1)); }
done
/usr/bin/python3 -c 'import selenium' 2>/dev/null ||
    { echo "FAIL python3-selenium is missing (scripts/install-deps.sh)"; missing=$((missing + 1)); }
if [ "$missing" -gt 0 ]; then
    echo "viewer_browser: 0 passed, $missing failed"
    exit 1
fi
shots=$T/screenshots
[ "${SG_UPDATE_SCREENSHOTS:-0}" = 1 ] && shots=$SRC/docs/viewer
args=(--view "$VIEW" --src "$SRC" --screenshots "$shots")
[ -n "${SG_VIEWER_PORT:-}" ] && args+=(--port "$SG_VIEWER_PORT")
# HOME for Chromium's profile: a fresh one per run
HOME=$T /usr/bin/python3 "$SRC/tests/browser/viewer_browser.py" "${args[@]}"
