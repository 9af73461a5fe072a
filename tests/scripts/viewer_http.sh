#!/bin/bash
# spoofguard-view from the outside: the real binary on loopback, driven
# with curl. Login (cookie flags, wrong password, CSRF), the security
# headers, inert links in unverified mail, the interstitial, the JSON API,
# new mail without a restart, the refusal to serve beyond loopback without
# TLS, and HTTPS with a self-signed certificate.
#
# Env (set by ctest): SG_VIEW, SG_CLI. Ports: SG_VIEW_TEST_PORT (18126)
# and the next one for TLS.
set -u
VIEW=${SG_VIEW:?SG_VIEW not set}
CLI=${SG_CLI:?SG_CLI not set}
PORT=${SG_VIEW_TEST_PORT:-18126}
TLS_PORT=$((PORT + 1))
B=http://127.0.0.1:$PORT
T=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
expect_eq() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got [$2] want [$3]"; fi; }
expect_has() { case $2 in *"$3"*) ok "$1" ;; *) bad "$1: [$3] not in output" ;; esac; }
expect_not() { case $2 in *"$3"*) bad "$1: [$3] found" ;; *) ok "$1" ;; esac; }
# the value of a header in a curl -i dump (last one wins)
header() { tr -d '\r' <<<"$1" | awk -v h="$2" 'BEGIN{IGNORECASE=1} index(tolower($0), tolower(h) ":") == 1 {sub(/^[^:]*: */, ""); v=$0} END{print v}'; }
status() { tr -d '\r' <<<"$1" | awk 'NR==1{print $2}'; }

# --- fixtures: a signing domain, its key and policy, three messages -----------
mkdir -p "$T/md/new" "$T/md/cur" "$T/md/tmp"
"$CLI" keygen --domain example.com --selector ed --type ed25519 --out "$T" > "$T/zone.txt" 2>/dev/null ||
    bad "keygen"
cat >> "$T/zone.txt" <<'EOF'
_dmarc.example.com. IN TXT "v=DMARC1; p=reject"
EOF
now=$(date +%s)
cat > "$T/genuine.eml" <<EOF
From: Alice Example <alice@example.com>
To: reader@example.org
Subject: Quarterly report
Date: $(date -R -d @$((now - 3600)))
Message-ID: <genuine@example.com>
Content-Type: text/html; charset=utf-8

<p>The report is <a href="https://reports.example.com/q3">on the portal</a>.
<img src="https://images.example.com/logo.png" alt="logo"></p>
EOF
"$CLI" sign --domain example.com --selector ed --key "$T/ed.private" "$T/genuine.eml" \
    > "$T/md/cur/1000.genuine.host:2,S" || bad "sign"
cat > "$T/md/new/1001.forged.host" <<EOF
From: "CEO" <ceo@example.com>
To: reader@example.org
Subject: Urgent wire transfer
Date: $(date -R -d @$((now - 1800)))
Content-Type: text/html; charset=utf-8

<p>Please pay <a href="https://pay.evil.example/now">https://example.com/pay</a> today.</p>
EOF
cat > "$T/md/new/1002.unverified.host" <<EOF
From: Bob <bob@unknown.example>
To: reader@example.org
Subject: <script>alert(1)</script> & "friends"
Date: $(date -R -d @$((now - 900)))
Content-Type: text/html; charset=utf-8

<p>Look at <a href="https://www.paypal.com.login.evil.example/x">www.paypal.com</a></p>
EOF
png=iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==
cat > "$T/md/new/1006.parts.host" <<EOF
From: Dana <dana@unknown.example>
To: reader@example.org
Subject: Attachments
Date: $(date -R -d @$((now - 7200)))
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<p>Logo: <img src="cid:logo@x" alt="logo"></p>
--rel
Content-Type: image/png
Content-ID: <logo@x>
Content-Transfer-Encoding: base64

$png
--rel--
--outer
Content-Type: application/octet-stream
Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf.exe
Content-Transfer-Encoding: base64

$(printf 'MZ fake executable' | base64)
--outer--
EOF
cat > "$T/md/new/1007.operator.host" <<EOF
From: PayPal Service <service@paypa1.example>
To: reader@example.org
Subject: Operator list lookalike
Date: $(date -R -d @$((now - 10800)))

Your account is limited.
EOF
printf '# brands we warn about
paypal.example
' > "$T/operator.txt"
# hostile entries: a link out of the Maildir, a dot file, a folder
ln -s /etc/passwd "$T/md/new/1003.link.host"
echo "From: hidden@x.example" > "$T/md/new/.1004.hidden"
mkdir "$T/md/new/1005.dir"

pw='correct horse battery staple'
hash=$(printf '%s\n' "$pw" | "$VIEW" --hash-password) || bad "--hash-password"
case $hash in '$y$'*) ok "--hash-password makes a yescrypt hash" ;; *) bad "hash: $hash" ;; esac
printf '# viewers\nreader:%s\n' "$hash" > "$T/passwd"

start() { # log, then arguments
    local log=$1
    shift
    "$VIEW" "$@" > "$log" 2>&1 &
    pids+=($!)
}
wait_up() { # url [curl options]
    local url=$1
    shift
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "$@" "$url" && return 0
        sleep 0.1
    done
    return 1
}

# --- refusals -----------------------------------------------------------------------
"$VIEW" --maildir "$T/md" --listen 0.0.0.0:$((PORT + 2)) > "$T/refuse.log" 2>&1
expect_eq "0.0.0.0 without TLS refused (exit 2)" "$?" "2"
expect_has "the refusal says why" "$(cat "$T/refuse.log")" "beyond loopback without TLS"
"$VIEW" --maildir "$T/md" --listen 0.0.0.0:$((PORT + 2)) --password-file "$T/passwd" \
    > "$T/refuse2.log" 2>&1
expect_eq "0.0.0.0 with a password but no TLS refused" "$?" "2"
printf 'paypal.example\nnot a domain!\n' > "$T/bad-operator.txt"
"$VIEW" --maildir "$T/md" --listen 127.0.0.1:$((PORT + 2)) --operator-domains "$T/bad-operator.txt" \
    > "$T/bad-op.log" 2>&1
expect_eq "a bad --operator-domains name: exit 2" "$?" "2"
expect_has "... named" "$(cat "$T/bad-op.log")" "not a domain name"
"$VIEW" --maildir "$T/md" --listen 127.0.0.1:$((PORT + 2)) --protect "exa mple.com" > /dev/null 2>&1
expect_eq "a bad --protect name: exit 2" "$?" "2"
"$VIEW" --maildir "$T/nowhere" --listen 127.0.0.1:$((PORT + 2)) > /dev/null 2>&1
expect_eq "a missing Maildir is an input error" "$?" "3"
# the password file: yescrypt only, each user once (adv32 F3: a weaker or
# cheaper hash told by the answer's time which user names exist)
refused_passwd() { # what, file content, line, message
    printf '%s' "$2" > "$T/bad-passwd"
    # (a viewer that accepts the file serves until the timeout: 124)
    timeout 10 "$VIEW" --maildir "$T/md" --listen 127.0.0.1:$((PORT + 2)) \
        --password-file "$T/bad-passwd" > "$T/bad-passwd.log" 2>&1
    expect_eq "$1: exit 3" "$?" "3"
    expect_has "... names the line and says why" "$(cat "$T/bad-passwd.log")" "$T/bad-passwd:$3: $4"
}
refused_passwd "an MD5-crypt hash" "reader:$hash
md5:\$1\$saltstri\$YMyguxXMBpd2TEZ.vS/3q1
" 2 "not a yescrypt hash"
expect_has "... and how to make one" "$(cat "$T/bad-passwd.log")" "--hash-password"
refused_passwd "a SHA-512-crypt hash" "sha:\$6\$saltstring\$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1
" 1 "not a yescrypt hash"
refused_passwd "a user twice" "reader:$hash
# again
reader:$hash
" 3 "user reader again (first on line 1)"

# --- the viewer -----------------------------------------------------------------------
start "$T/view.log" --maildir "$T/md" --listen 127.0.0.1:$PORT --password-file "$T/passwd" \
    --zone "$T/zone.txt" --protect example.com --operator-domains "$T/operator.txt"
wait_up "$B/login" || { bad "viewer did not start: $(cat "$T/view.log")"; exit 1; }

r=$(curl -si "$B/")
expect_eq "unauthenticated / redirects" "$(status "$r")" "303"
expect_eq "... to /login" "$(header "$r" Location)" "/login"
r=$(curl -si "$B/api/messages")
expect_eq "unauthenticated API is 401" "$(status "$r")" "401"

# login form: its cookie carries the form's session, its CSRF token
J=$T/jar
login_form() { curl -s -c "$J" -b "$J" "$B/login"; }
csrf_of() { sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' <<<"$1" | head -1; }
page=$(login_form)
expect_has "login form" "$page" '<form id="login" method="post" action="/login">'
csrf=$(csrf_of "$page")
expect_eq "CSRF token is 64 hex" "${#csrf}" "64"
r=$(curl -si -c "$J" -b "$J" --data-urlencode "user=reader" --data-urlencode "password=wrong" \
    --data-urlencode "csrf=$csrf" "$B/login")
expect_eq "wrong password is 401" "$(status "$r")" "401"
expect_has "... with #login-error" "$r" 'id="login-error"'
expect_not "... and no session cookie" "$r" "sg_session="
csrf=$(csrf_of "$r")
r=$(curl -si -c "$J" -b "$J" --data-urlencode "user=reader" --data-urlencode "password=$pw" \
    "$B/login")
expect_eq "login without CSRF token is 403" "$(status "$r")" "403"
wrong=${csrf%?}0
[ "$wrong" = "$csrf" ] && wrong=${csrf%?}1
r=$(curl -si -c "$J" -b "$J" --data-urlencode "user=reader" --data-urlencode "password=$pw" \
    --data-urlencode "csrf=$wrong" "$B/login")
expect_eq "login with a wrong CSRF token is 403" "$(status "$r")" "403"
r=$(curl -si -c "$J" -b "$J" --data-urlencode "user=reader" --data-urlencode "password=$pw" \
    --data-urlencode "csrf=$csrf" "$B/login")
expect_eq "login is 303" "$(status "$r")" "303"
expect_eq "... to /" "$(header "$r" Location)" "/"
session_cookie() { tr -d '\r' <<<"$1" | grep -i '^set-cookie: sg_session='; }
cookie=$(session_cookie "$r")
expect_has "cookie sg_session" "$cookie" "sg_session="
expect_has "cookie HttpOnly" "$cookie" "HttpOnly"
expect_has "cookie SameSite=Strict" "$cookie" "SameSite=Strict"
expect_has "cookie Path=/" "$cookie" "Path=/"
expect_not "no Secure over plain HTTP" "$cookie" "Secure"
expect_has "the login form's cookie is cleared" "$r" "sg_login=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
C=(-b "$J" -c "$J")

# a flood of login forms (adv32 F1: each took a slot of the shared session
# table, evicting the form a reader was filling in) leaves a reader's form
# good, and forms still do not mix or pass for sessions
R=$T/reader-jar
page=$(curl -s -c "$R" -b "$R" "$B/login")
rcsrf=$(csrf_of "$page")
sleep 1 # the reader types; the flood comes later (the old table evicted the least recently used)
curl -s -I "$B/login?[1-100]" > /dev/null
curl -s "$B/login?[1-500]" > /dev/null
page2=$(curl -s -c "$T/other-jar" "$B/login")
r=$(curl -si -b "$R" --data-urlencode "user=reader" --data-urlencode "password=$pw" \
    --data-urlencode "csrf=$(csrf_of "$page2")" "$B/login")
expect_eq "login with another form's token is 403" "$(status "$r")" "403"
r=$(curl -si -b "$R" --data-urlencode "user=reader" --data-urlencode "password=$pw" \
    --data-urlencode "csrf=$rcsrf" "$B/login")
expect_eq "after 600 forms fetched by others, the reader's login is 303" "$(status "$r")" "303"
expect_has "... with a session cookie" "$(session_cookie "$r")" "sg_session="
form_cookie=$(awk '$6 == "sg_login" {print $7}' "$R")
r=$(curl -s -o /dev/null -w '%{http_code}' -b "sg_session=$form_cookie" "$B/")
expect_eq "the login form's cookie is no session" "$r" "303"

# wait until every message is checked
api=""
for _ in $(seq 1 100); do
    api=$(curl -s "${C[@]}" "$B/api/messages")
    case $api in *'"checking":true'*) sleep 0.1 ;; *) break ;; esac
done
verdicts=$(/usr/bin/python3 -c '
import json, sys
d = json.loads(sys.argv[1])
keys = {"id", "headline", "from", "subject", "date", "warnings"}
for m in d["messages"]:
    assert keys <= set(m), m.keys()
    assert all("kind" in w for w in m["warnings"])
print(" ".join(m["subject"].split()[0] + "=" + m["headline"] for m in d["messages"]))
' "$api") || bad "API list JSON: $api"
expect_eq "API list: newest first, right headlines, hostile files skipped" "$verdicts" \
    "<script>alert(1)</script>=unverified Urgent=forged Quarterly=verified Attachments=unverified Operator=unverified"
id_of() { /usr/bin/python3 -c '
import json, sys
for m in json.loads(sys.argv[1])["messages"]:
    if m["subject"].startswith(sys.argv[2]): print(m["id"])' "$api" "$1"; }
G=$(id_of Quarterly)
F=$(id_of Urgent)
U=$(id_of "<script>")
[ ${#G} = 24 ] && [ ${#F} = 24 ] && [ ${#U} = 24 ] && ok "IDs are 24 hex" || bad "IDs: $G $F $U"

one=$(curl -s "${C[@]}" "$B/api/messages/$G")
/usr/bin/python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["id"] == sys.argv[2]
assert d["headline"] == "verified", d["headline"]
for k in ("display_name", "address", "domain", "registrable_domain", "signed_by", "mailed_by"):
    assert k in d["identity"], k
assert d["identity"]["signed_by"][0]["domain"] == "example.com"
for k in ("warnings", "links"):
    assert isinstance(d[k], list), k
for l in d["links"]:
    for k in ("text", "target", "host", "registrable_domain", "inert", "warnings"):
        assert k in l, k
    assert l["inert"] is False
' "$one" "$G" && ok "API message JSON keys (verified)" || bad "API message: $one"
one=$(curl -s "${C[@]}" "$B/api/messages/$U")
/usr/bin/python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["headline"] == "unverified" and d["links"] and all(l["inert"] for l in d["links"])
' "$one" && ok "API: links in unverified mail are inert" || bad "API unverified: $one"

O=$(id_of Operator)
/usr/bin/python3 -c '
import json, sys
d = json.loads(sys.argv[1])
w = [x for x in d["warnings"] if x["kind"] == "lookalike"]
assert w and "paypal.example" in w[0]["detail"], d["warnings"]
' "$(curl -s "${C[@]}" "$B/api/messages/$O")" && ok "--operator-domains: a lookalike of paypal.example is named" ||
    bad "no lookalike warning against the operator list"

# --- pages and their headers -------------------------------------------------------
check_page_headers() { # name response
    expect_has "$1: CSP" "$(header "$2" Content-Security-Policy)" "script-src 'none'"
    expect_has "$1: CSP default-src 'self'" "$(header "$2" Content-Security-Policy)" \
        "default-src 'self'"
    expect_eq "$1: X-Frame-Options" "$(header "$2" X-Frame-Options)" "DENY"
    expect_eq "$1: Referrer-Policy" "$(header "$2" Referrer-Policy)" "no-referrer"
    expect_eq "$1: nosniff" "$(header "$2" X-Content-Type-Options)" "nosniff"
}
r=$(curl -si "${C[@]}" "$B/")
expect_eq "/ is 200 after login" "$(status "$r")" "200"
check_page_headers "/" "$r"
expect_has "list table" "$r" '<table id="messages">'
expect_has "list row forged" "$r" "data-id=\"$F\" data-headline=\"forged\""
expect_has "list row verified" "$r" "data-id=\"$G\" data-headline=\"verified\""
expect_not "hostile subject escaped" "$r" "<script>alert(1)"
expect_has "... shown as text" "$r" "&#60;script&#62;alert(1)&#60;/script&#62; &#38; &#34;friends&#34;"
expect_has "icon with aria-label" "$r" 'role="img" aria-label="Forged"'

r=$(curl -si "${C[@]}" "$B/m/$U")
check_page_headers "/m/ID" "$r"
expect_has "message headline" "$r" 'id="headline" class="hl-unverified" data-headline="unverified"'
expect_has "iframe sandbox without scripts" "$r" \
    'sandbox="allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"'
expect_has "verified-by" "$r" 'id="verified-by"'
r=$(curl -si "${C[@]}" "$B/m/$G")
expect_has "verified: registrable domain emphasised" "$r" \
    'alice@<strong class="registrable">example.com</strong>'
expect_has "verified now by the viewer" "$r" "verified now by the viewer"
expect_has "load-images form for verified mail" "$r" "<form id=\"load-images\" method=\"post\" action=\"/m/$G/images\">"

r=$(curl -si "${C[@]}" "$B/m/$U/body")
csp=$(header "$r" Content-Security-Policy)
expect_has "body CSP default-src 'none'" "$csp" "default-src 'none'"
expect_has "body CSP frame-ancestors 'self'" "$csp" "frame-ancestors 'self'"
expect_not "body CSP: no remote images" "$csp" "https:"
expect_eq "body nosniff" "$(header "$r" X-Content-Type-Options)" "nosniff"
expect_eq "body Referrer-Policy" "$(header "$r" Referrer-Policy)" "no-referrer"
expect_not "unverified body has no href" "$r" "href"
expect_has "unverified body shows the target" "$r" "https://www.paypal.com.login.evil.example/x"
r=$(curl -si "${C[@]}" "$B/m/$G/body")
expect_has "verified body links to the interstitial" "$r" "href=\"/link/$G/0?k="
# a click in the sandboxed body carries no SameSite=Strict cookie: the
# link's own token opens that interstitial, and nothing else
href=$(sed -n 's/.*href="\(\/link\/[^"]*\)".*/\1/p' <<<"$r" | head -1)
r=$(curl -si "$B$href")
expect_eq "the body link's token opens its interstitial without a cookie" "$(status "$r")" "200"
expect_has "... showing the target" "$r" '<dd id="link-target">https://reports.example.com/q3</dd>'
r=$(curl -si "$B/link/$G/0?k=$(printf '0%.0s' $(seq 32))")
expect_eq "a wrong link token: login" "$(header "$r" Location)" "/login"
r=$(curl -si "$B/link/$G/0")
expect_eq "no token, no cookie: login" "$(header "$r" Location)" "/login"
expect_not "verified body: remote image blocked" "$r" "images.example.com"

# --- the interstitial ----------------------------------------------------------------
r=$(curl -si "${C[@]}" "$B/link/$U/0")
check_page_headers "interstitial" "$r"
expect_has "interstitial target" "$r" '<dd id="link-target">https://www.paypal.com.login.evil.example/x</dd>'
expect_has "interstitial host" "$r" \
    '<dd id="link-host">www.paypal.com.login.<strong class="registrable">evil.example</strong></dd>'
expect_has "interstitial verdict" "$r" 'id="link-verdict" class="hl-unverified" data-headline="unverified"'
expect_has "confirmation form" "$r" "<form id=\"link-confirm\" method=\"post\" action=\"/link/$U/0/go\">"
icsrf=$(sed -n 's/.*id="link-confirm".*name="csrf" value="\([0-9a-f]*\)".*/\1/p' <<<"$r" | head -1)
expect_eq "the confirmation form carries the session's token" "${#icsrf}" "64"
expect_not "no continue link in unverified mail" "$r" 'id="link-continue"'
r=$(curl -si "${C[@]}" "$B/link/$U/0/go")
expect_eq "go without confirm: back to the interstitial" "$(header "$r" Location)" "/link/$U/0"
# a GET never confirms: any navigation inside the viewer could make one (adv17 F6)
r=$(curl -si "${C[@]}" "$B/link/$U/0/go?confirm=on")
expect_eq "GET go?confirm=on: back to the interstitial" "$(header "$r" Location)" "/link/$U/0"
r=$(curl -si "${C[@]}" --data "confirm=on" "$B/link/$U/0/go")
expect_eq "POST go without a token: 403" "$(status "$r")" "403"
r=$(curl -si "${C[@]}" --data "confirm=on&csrf=$(printf '0%.0s' $(seq 64))" "$B/link/$U/0/go")
expect_eq "POST go with a wrong token: 403" "$(status "$r")" "403"
r=$(curl -si "${C[@]}" --data "csrf=$icsrf" "$B/link/$U/0/go")
expect_eq "POST go unconfirmed: back to the interstitial" "$(header "$r" Location)" "/link/$U/0"
r=$(curl -si "${C[@]}" --data "confirm=on&csrf=$icsrf" "$B/link/$U/0/go")
expect_eq "POST go confirmed" "$(header "$r" Location)" "https://www.paypal.com.login.evil.example/x"
# the link's own token stands for the session (an interstitial opened by a
# click in the body); a wrong one does not
r=$(curl -si --data "k=${href##*k=}" "$B${href%%\?*}/go")
expect_eq "POST go with the link's token, no cookie" "$(header "$r" Location)" "https://reports.example.com/q3"
r=$(curl -si --data "k=$(printf '0%.0s' $(seq 32))" "$B${href%%\?*}/go")
expect_eq "POST go with a wrong link token: 403" "$(status "$r")" "403"
r=$(curl -si "${C[@]}" "$B/link/$G/0")
expect_has "verified: continue link" "$r" \
    'id="link-continue" href="https://reports.example.com/q3" rel="noopener noreferrer"'

# --- state changes need the session's CSRF token ---------------------------------------
page=$(curl -s "${C[@]}" "$B/m/$G")
scsrf=$(csrf_of "$page")
r=$(curl -si "${C[@]}" -X POST "$B/m/$G/images")
expect_eq "POST without CSRF is 403" "$(status "$r")" "403"
r=$(curl -si "${C[@]}" --data "csrf=$(printf '0%.0s' $(seq 64))" "$B/m/$G/images")
expect_eq "POST with a wrong CSRF is 403" "$(status "$r")" "403"
r=$(curl -si "${C[@]}" --data "csrf=$scsrf" "$B/m/$U/images")
expect_eq "images for unverified mail: 403" "$(status "$r")" "403"
r=$(curl -si "${C[@]}" --data "csrf=$scsrf" "$B/m/$G/images")
expect_eq "images for verified mail: 303" "$(status "$r")" "303"
r=$(curl -si "${C[@]}" "$B/m/$G/body")
expect_has "images allowed: CSP lets them in" "$(header "$r" Content-Security-Policy)" "https:"
expect_has "images allowed: the image is kept" "$r" "https://images.example.com/logo.png"

# --- new mail without a restart ------------------------------------------------------------
cat > "$T/md/tmp/2000.new.host" <<EOF
From: Carol <carol@unknown.example>
Subject: Fresh mail
Date: $(date -R)

Hello.
EOF
mv "$T/md/tmp/2000.new.host" "$T/md/new/2000.new.host"
api=$(curl -s "${C[@]}" "$B/api/messages")
expect_has "new mail appears in the next /api/messages" "$api" '"subject":"Fresh mail"'
# moved to cur/ with flags: the same ID
N=$(id_of Fresh)
mv "$T/md/new/2000.new.host" "$T/md/cur/2000.new.host:2,S"
api=$(curl -s "${C[@]}" "$B/api/messages")
expect_eq "moved to cur/: same ID" "$(id_of Fresh)" "$N"
rm "$T/md/cur/2000.new.host:2,S"
api=$(curl -s "${C[@]}" "$B/api/messages")
expect_not "deleted mail disappears" "$api" "Fresh mail"

# --- parts: inline images and attachments -------------------------------------------------
A=$(id_of Attachments)
r=$(curl -s "${C[@]}" "$B/m/$A")
expect_has "attachment listed" "$r" "résumé.pdf.exe"
expect_has "... with its risk" "$r" 'data-risk="executable'
part=$(sed -n "s/.*href=\"\/m\/$A\/part\/\([0-9]*\)\">Download.*/\1/p" <<<"$r" | head -1)
r=$(curl -si "${C[@]}" "$B/m/$A/part/$part")
expect_eq "download: 200" "$(status "$r")" "200"
expect_eq "download: octet-stream" "$(header "$r" Content-Type)" "application/octet-stream"
expect_eq "download: RFC 6266 name" "$(header "$r" Content-Disposition)" \
    "attachment; filename=\"r__sum__.pdf.exe\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf.exe"
expect_eq "download: nosniff" "$(header "$r" X-Content-Type-Options)" "nosniff"
expect_has "download: the bytes" "$r" "MZ fake executable"
b=$(curl -s "${C[@]}" "$B/m/$A/body")
cid=$(sed -n "s/.*src=\"\/m\/$A\/cid\/\([0-9]*\)\".*/\1/p" <<<"$b" | head -1)
[ -n "$cid" ] && ok "inline image served from the message" || bad "no cid image in the body: $b"
r=$(curl -s "${C[@]}" -o "$T/logo.png" -w '%{http_code} %{content_type}' "$B/m/$A/cid/$cid")
expect_eq "cid image: 200 image/png" "$r" "200 image/png"
expect_eq "cid image: the part's bytes" "$(base64 -w0 < "$T/logo.png")" "$png"
r=$(curl -s -o /dev/null -w '%{http_code}' "${C[@]}" "$B/m/$A/cid/$part")
expect_eq "an attachment is no inline image: 404" "$r" "404"

# --- bounds and methods ------------------------------------------------------------------
big=$(head -c 20000 /dev/zero | tr '\0' a)
r=$(curl -si "${C[@]}" --data "csrf=$scsrf&x=$big" "$B/m/$G/images")
expect_eq "a POST body over 16 KiB: 413" "$(status "$r")" "413"
r=$(curl -si "${C[@]}" -X DELETE "$B/")
expect_eq "DELETE /: 405" "$(status "$r")" "405"
r=$(curl -sI "${C[@]}" "$B/m/$G")
expect_eq "HEAD /m/ID: 200" "$(status "$r")" "200"
expect_eq "HEAD: the headers too" "$(header "$r" X-Frame-Options)" "DENY"
r=$(curl -si "${C[@]}" "$B/nowhere")
expect_eq "unknown path: 404" "$(status "$r")" "404"
check_page_headers "404 page" "$r"
r=$(curl -si "${C[@]}" "$B/m/../../etc/passwd")
expect_not "no path escapes" "$r" "root:"
r=$(curl -si "${C[@]}" "$B/m/${G}x")
expect_eq "a malformed ID: 404" "$(status "$r")" "404"
r=$(curl -si "${C[@]}" "$B/m/$G/part/99")
expect_eq "no such part: 404" "$(status "$r")" "404"
r=$(curl -si "${C[@]}" "$B/link/$G/99")
expect_eq "no such link: 404" "$(status "$r")" "404"

# --- logout --------------------------------------------------------------------------------------
r=$(curl -si "${C[@]}" --data "csrf=$scsrf" "$B/logout")
expect_eq "logout 303" "$(status "$r")" "303"
r=$(curl -si "${C[@]}" "$B/")
expect_eq "after logout: back to login" "$(header "$r" Location)" "/login"

# --- without a login: loopback names only (no DNS rebinding) ------------------------------
NL=$((PORT + 2))
start "$T/nologin.log" --maildir "$T/md" --listen 127.0.0.1:$NL --zone "$T/zone.txt"
if wait_up "http://127.0.0.1:$NL/"; then
    expect_has "no password file: the warning line" "$(cat "$T/nologin.log")" "without logging in"
    r=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NL/api/messages")
    expect_eq "no login: 127.0.0.1 is served" "$r" "200"
    r=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: localhost:$NL" "http://127.0.0.1:$NL/")
    expect_eq "no login: localhost is served" "$r" "200"
    r=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: rebind.attacker.example:$NL" \
        "http://127.0.0.1:$NL/api/messages")
    expect_eq "no login: another Host name is refused (DNS rebinding)" "$r" "403"
    r=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: 127.0.0.1.attacker.example" \
        "http://127.0.0.1:$NL/")
    expect_eq "no login: a name that starts like an address is refused" "$r" "403"
else
    bad "the viewer without a password file did not start: $(cat "$T/nologin.log")"
fi

# --- HTTPS with a self-signed certificate ------------------------------------------------------------
if openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
    -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1" > /dev/null 2>&1; then
    start "$T/tls.log" --maildir "$T/md" --listen 127.0.0.1:$TLS_PORT --password-file "$T/passwd" \
        --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" --zone "$T/zone.txt"
    TB=https://127.0.0.1:$TLS_PORT
    K=(--cacert "$T/cert.pem" -b "$T/tjar" -c "$T/tjar")
    if wait_up "$TB/login" "${K[@]}"; then
        page=$(curl -s "${K[@]}" "$TB/login")
        expect_has "https serves the login form" "$page" '<form id="login"'
        r=$(curl -si "${K[@]}" --data-urlencode "user=reader" --data-urlencode "password=$pw" \
            --data-urlencode "csrf=$(csrf_of "$page")" "$TB/login")
        expect_eq "https login 303" "$(status "$r")" "303"
        expect_has "cookie Secure under TLS" "$(session_cookie "$r")" "; Secure"
        r=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$TLS_PORT/login")
        expect_not "plain HTTP is not served on the TLS port" "$r" "200"
    else
        bad "https viewer did not start: $(cat "$T/tls.log")"
    fi
else
    bad "openssl could not make a certificate"
fi

echo "viewer_http: $fails failure(s)"
[ "$fails" = 0 ]
