#!/usr/bin/env bash
# `spoofguard audit` fetching the MTA-STS policy (RFC 8461 3.2, 3.3, 4.1)
# from a real HTTPS server on loopback: a throwaway CA and certificates made
# here with openssl, Python's http.server behind ssl answering per Host,
# domains in a zone file whose _mta-sts record points at each case:
#   good      enforce, its MX matched by a "*." pattern: no finding, exit 0
#   chunked   the same policy sent with chunked transfer coding, CRLF lines
#   mismatch  enforce, the MX matched by no mx line: mtasts.mx_mismatch error
#   testing   testing, the same mismatch: mtasts.testing info + warning
#   none      mode none: mtasts.mode_none info, no MX check
#   bad       a mode RFC 8461 does not have: mtasts.policy_syntax
#   gone      404; moved: 301 (not followed); html: text/html; big: a
#             policy over 64 KiB; wrongname: a certificate for another
#             name; untrusted: a CA we do not trust; closed: nothing
#             listens; silent: a server that accepts and never answers
#             (the 10 s deadline); keepopen, keepchunked: a whole answer
#             (Content-Length, chunks) on a connection held open, read at
#             once; trickle: the good server behind a proxy
#             passing its bytes on one per 200 ms (the deadline holds for
#             the whole fetch): mtasts.policy_unreachable
# and the offline default: with --zone and no --mta-sts-* option nothing is
# fetched (mtasts.policy_not_fetched).
# Prints PASS/FAIL lines and "N passed, N failed". Env: SG_CLI.
set -uo pipefail
SG_SRC=${SG_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SG_CLI=${SG_CLI:-$SG_SRC/build/spoofguard}
PY=/usr/bin/python3
command -v openssl >/dev/null || { echo "SKIPPED: openssl is not installed"; exit 77; }
T=$(mktemp -d /tmp/sg-mtasts.XXXXXX)
SRV=''
cleanup() {
    [ -z "$SRV" ] || kill "$SRV" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1: $2"; fail=$((fail + 1)); }

# --- a CA, a certificate for every mta-sts.CASE.test but wrongname ----------
cases="good chunked mismatch testing none bad gone moved html big status2004 keepopen keepchunked repeated"
san=$(for c in $cases; do printf 'DNS:mta-sts.%s.test,' "$c"; done)
{
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" -days 2 \
        -subj "/CN=spoofguard test CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/other-ca.key" -out "$T/other-ca.pem" \
        -days 2 -subj "/CN=another CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign"
    mkcert() { # name SAN CA
        openssl req -newkey rsa:2048 -nodes -keyout "$T/$1.key" -out "$T/$1.csr" -subj "/CN=$1"
        printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$2" >"$T/$1.ext"
        openssl x509 -req -in "$T/$1.csr" -CA "$T/$3.pem" -CAkey "$T/$3.key" -CAcreateserial \
            -days 2 -extfile "$T/$1.ext" -out "$T/$1.pem"
    }
    mkcert server "${san%,}" ca
    mkcert wrong "DNS:mta-sts.other.test" ca
    mkcert untrusted "DNS:mta-sts.untrusted.test" other-ca
    # the name in the CN only, no subjectAltName (RFC 6125 6.4.4)
    openssl req -newkey rsa:2048 -nodes -keyout "$T/cnonly.key" -out "$T/cnonly.csr" \
        -subj "/CN=mta-sts.cnonly.test"
    printf 'extendedKeyUsage=serverAuth\n' >"$T/cnonly.ext"
    openssl x509 -req -in "$T/cnonly.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
        -days 2 -extfile "$T/cnonly.ext" -out "$T/cnonly.pem"
} >"$T/openssl.log" 2>&1 || { ko setup "openssl: $(tail -n3 "$T/openssl.log")"; echo "$pass passed, $fail failed"; exit 1; }

# --- the server: one port per certificate ------------------------------------
read -r P1 P2 P3 PCLOSED PSILENT PTRICKLE PCN < <("$PY" "$SG_SRC/tests/interop/milter_client.py" freeport 7)
cat >"$T/srv.py" <<'PYEOF'
import http.server, ssl, sys, threading
d = sys.argv[1]
GOOD = b"version: STSv1\nmode: enforce\nmx: *.good.test\nmax_age: 604800\n"
def policy(mode, mx):
    return ("version: STSv1\r\nmode: %s\r\nmx: %s\r\nmax_age: 86400\r\n" % (mode, mx)).encode()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def send(self, code, body, ctype="text/plain", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0]
        case = host[len("mta-sts."):-len(".test")] if host.startswith("mta-sts.") else ""
        if self.path != "/.well-known/mta-sts.txt":
            return self.send(404, b"wrong path\n")
        if case == "good":
            return self.send(200, GOOD, "text/plain; charset=utf-8")
        if case == "chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            body = policy("enforce", "mx.chunked.test")
            for part in (body[:10], body[10:]):
                self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        if case == "mismatch":
            return self.send(200, policy("enforce", "mail.elsewhere.test"))
        if case == "testing":
            return self.send(200, policy("testing", "mail.elsewhere.test"))
        if case == "none":
            return self.send(200, b"version: STSv1\nmode: none\nmax_age: 86400\n")
        if case == "bad":
            return self.send(200, policy("sometimes", "mx.bad.test"))
        if case == "moved":
            return self.send(301, b"", extra=[("Location", "https://elsewhere.test/p.txt")])
        if case == "html":
            return self.send(200, b"<html>" + GOOD + b"</html>", "text/html")
        if case == "status2004":  # four digits: no status 200 (adv34 L1)
            self.wfile.write(b"HTTP/1.1 2004 OK\r\nContent-Type: text/plain\r\nContent-Length: %d"
                             b"\r\nConnection: close\r\n\r\n%s" % (len(GOOD), GOOD))
            return
        if case == "keepopen":  # a whole answer, then the connection held (adv34 L4)
            body = policy("enforce", "mx.keepopen.test")
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d"
                             b"\r\n\r\n%s" % (len(body), body))
            self.wfile.flush()
            import time
            time.sleep(20)
            return
        if case == "keepchunked":  # the same in chunks, a trailer field, held open
            body = policy("enforce", "mx.keepchunked.test")
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
            for part in (body[:7], body[7:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\nX-Trailer: 1\r\n\r\n")
            self.wfile.flush()
            import time
            time.sleep(20)
            return
        if case == "repeated":  # a second mode: senders keeping the last read none (adv34 L3)
            return self.send(200, policy("enforce", "mx.repeated.test") + b"mode: none\r\n")
        if case == "cnonly":
            return self.send(200, policy("enforce", "mx.cnonly.test"))
        if case == "big":
            return self.send(200, GOOD + b"x_pad: " + b"y" * 70000 + b"\n")
        return self.send(404, b"no such policy\n")
def serve(port, cert):
    s = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    c.load_cert_chain(d + "/" + cert + ".pem", d + "/" + cert + ".key")
    s.socket = c.wrap_socket(s.socket, server_side=True)
    threading.Thread(target=s.serve_forever, daemon=True).start()
for port, cert in zip(map(int, sys.argv[2:5]), ("server", "wrong", "untrusted")):
    serve(port, cert)
serve(int(sys.argv[7]), "cnonly")
# accepts, then never says a word (not even the TLS handshake)
import socket
silent = socket.socket()
silent.bind(("127.0.0.1", int(sys.argv[5])))
silent.listen(8)
held = []
threading.Thread(target=lambda: [held.append(silent.accept()) for _ in iter(int, 1)],
                 daemon=True).start()
# a proxy to the good server that passes the server's bytes on one per
# 200 ms: each recv() gets a byte in time, the handshake takes many minutes
# (adv34 F1: only a deadline over the whole fetch ends it)
def trickle(c):
    import time
    u = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    def up():
        try:
            while True:
                b = c.recv(4096)
                if not b:
                    break
                u.sendall(b)
        except OSError:
            pass
    threading.Thread(target=up, daemon=True).start()
    try:
        while True:
            b = u.recv(1)
            if not b:
                break
            c.sendall(b)
            time.sleep(0.2)
    except OSError:
        pass
    c.close()
tl = socket.socket()
tl.bind(("127.0.0.1", int(sys.argv[6])))
tl.listen(8)
threading.Thread(target=lambda: [threading.Thread(target=trickle, args=(tl.accept()[0],),
                                                  daemon=True).start() for _ in iter(int, 1)],
                 daemon=True).start()
open(d + "/ready", "w").close()
threading.Event().wait()
PYEOF
"$PY" "$T/srv.py" "$T" "$P1" "$P2" "$P3" "$PSILENT" "$PTRICKLE" "$PCN" 2>"$T/srv.err" &
SRV=$!
for ((i = 0; i < 100; i++)); do [ -f "$T/ready" ] && break; sleep 0.05; done
[ -f "$T/ready" ] || { ko setup "the HTTPS server did not start: $(tail -n3 "$T/srv.err")"; echo "$pass passed, $fail failed"; exit 1; }

# --- the zone: each case a complete domain, so only MTA-STS can differ --------
for c in $cases wrongname untrusted closed silent cnonly; do
    cat <<EOF
$c.test. IN MX 10 mx.$c.test.
mx.$c.test. IN A 192.0.2.25
$c.test. IN TXT "v=spf1 mx -all"
_dmarc.$c.test. IN TXT "v=DMARC1; p=reject"
_mta-sts.$c.test. IN TXT "v=STSv1; id=20261204T000000"
_smtp._tls.$c.test. IN TXT "v=TLSRPTv1; rua=mailto:tls@$c.test"
EOF
done >"$T/zone"
# the policy hosts' addresses, for the fetch without --mta-sts-connect: from
# the zone (the audit's resolver, never the system's), and special-purpose
# ones refused (adv34 F7)
for c in ssrf linklocal noaddr; do
    cat <<EOF
$c.test. IN MX 10 mx.$c.test.
mx.$c.test. IN A 192.0.2.25
$c.test. IN TXT "v=spf1 mx -all"
_dmarc.$c.test. IN TXT "v=DMARC1; p=reject"
_mta-sts.$c.test. IN TXT "v=STSv1; id=20261204T000000"
_smtp._tls.$c.test. IN TXT "v=TLSRPTv1; rua=mailto:tls@$c.test"
EOF
done >>"$T/zone"
cat >>"$T/zone" <<EOF
mta-sts.ssrf.test. IN A 127.0.0.1
mta-sts.ssrf.test. IN AAAA ::1
mta-sts.linklocal.test. IN A 169.254.169.254
mta-sts.linklocal.test. IN AAAA fd00::1
mta-sts.noaddr.test. IN TXT "no address here"
EOF
sed -i 's/^good.test. IN MX 10 mx.good.test./good.test. IN MX 10 mx1.good.test./; s/^mx.good.test. IN A/mx1.good.test. IN A/' "$T/zone"

# mtasts CASE PORT: "EXIT code/severity code/severity..." of the mtasts.* findings
mtasts() {
    local out rc
    out=$("$SG_CLI" audit "$1.test" --zone "$T/zone" --json --mta-sts-connect "127.0.0.1:$2" \
        --mta-sts-ca "$T/ca.pem" 2>"$T/err")
    rc=$?
    printf '%s ' "$rc"
    "$PY" -c 'import json,sys
j=json.loads(sys.stdin.read())
print(" ".join(sorted(f["code"]+"/"+f["severity"] for f in j["findings"] if f["code"].startswith("mtasts."))))' <<<"$out" 2>/dev/null || echo "(no JSON: $(head -c 200 "$T/err"))"
}
detail() { # CASE PORT CODE: the detail of that finding
    "$SG_CLI" audit "$1.test" --zone "$T/zone" --json --mta-sts-connect "127.0.0.1:$2" \
        --mta-sts-ca "$T/ca.pem" 2>/dev/null | "$PY" -c 'import json,sys
j=json.loads(sys.stdin.read())
print(" | ".join(f["detail"] for f in j["findings"] if f["code"]==sys.argv[1]))' "$3"
}
expect() { # name CASE PORT WANT
    local got
    got=$(mtasts "$2" "$3")
    got=${got% }
    if [ "$got" = "$4" ]; then ok "$1"; else ko "$1" "want '$4', got '$got'"; fi
}
expect good good "$P1" "0"
expect chunked chunked "$P1" "0"
expect mismatch mismatch "$P1" "1 mtasts.mx_mismatch/error"
expect testing testing "$P1" "0 mtasts.mx_mismatch/warning mtasts.testing/info"
expect mode_none none "$P1" "0 mtasts.mode_none/info"
expect bad_policy bad "$P1" "1 mtasts.policy_syntax/error"
expect not_found gone "$P1" "1 mtasts.policy_unreachable/error"
expect redirect moved "$P1" "1 mtasts.policy_unreachable/error"
expect not_text_plain html "$P1" "1 mtasts.policy_unreachable/error"
expect wrong_name wrongname "$P2" "1 mtasts.policy_unreachable/error"
expect untrusted_ca untrusted "$P3" "1 mtasts.policy_unreachable/error"
expect nothing_listens closed "$PCLOSED" "1 mtasts.policy_unreachable/error"
expect too_big big "$P1" "1 mtasts.policy_unreachable/error"
expect status_2004 status2004 "$P1" "1 mtasts.policy_unreachable/error"
expect cn_only cnonly "$PCN" "1 mtasts.policy_unreachable/error"
expect repeated_key repeated "$P1" "0 mtasts.policy_repeated/warning"
t0=$(date +%s)
expect keep_open keepopen "$P1" "0"
dt=$(($(date +%s) - t0))
if [ "$dt" -le 5 ]; then ok keep_open_fast; else ko keep_open_fast "took ${dt}s (the answer was whole at once)"; fi
t0=$(date +%s)
expect keep_open_chunked keepchunked "$P1" "0"
dt=$(($(date +%s) - t0))
if [ "$dt" -le 5 ]; then ok keep_open_chunked_fast; else ko keep_open_chunked_fast "took ${dt}s (the last chunk came at once)"; fi
t0=$(date +%s)
expect silent_server silent "$PSILENT" "1 mtasts.policy_unreachable/error"
dt=$(($(date +%s) - t0))
if [ "$dt" -ge 9 ] && [ "$dt" -le 16 ]; then ok silent_deadline; else ko silent_deadline "took ${dt}s (want the 10 s deadline)"; fi
# the good policy through the trickling proxy: the 10 s hold for the whole
# fetch (handshake included), not for each recv()
t0=$(date +%s)
out=$(timeout 40 "$SG_CLI" audit good.test --zone "$T/zone" --json --mta-sts-connect \
    "127.0.0.1:$PTRICKLE" --mta-sts-ca "$T/ca.pem" 2>"$T/err")
rc=$?
dt=$(($(date +%s) - t0))
if [ "$rc" = 1 ] && [ "$dt" -ge 9 ] && [ "$dt" -le 16 ] &&
    grep -q 'policy_unreachable.*timed out' <<<"$out"; then
    ok trickle_deadline
else
    ko trickle_deadline "exit $rc after ${dt}s: $(head -c 300 <<<"$out")"
fi

# the reasons name what went wrong
why() { # name CASE PORT CODE PATTERN
    local d
    d=$(detail "$2" "$3" "$4")
    if grep -qiE "$5" <<<"$d"; then ok "$1"; else ko "$1" "detail '$d' lacks /$5/"; fi
}
why why_404 gone "$P1" mtasts.policy_unreachable "HTTP status 404"
why why_redirect moved "$P1" mtasts.policy_unreachable "redirect to https://elsewhere.test/p.txt.*forbids"
why why_ctype html "$P1" mtasts.policy_unreachable "text/html, not text/plain"
why why_name wrongname "$P2" mtasts.policy_unreachable "not valid for it|hostname mismatch"
why why_ca untrusted "$P3" mtasts.policy_unreachable "certificate"
why why_syntax bad "$P1" mtasts.policy_syntax "mode is not enforce, testing or none"
why why_big big "$P1" mtasts.policy_unreachable "larger than 64 KiB"
why why_mx mismatch "$P1" mtasts.mx_mismatch "mx.mismatch.test matches no mx line"

# the policy host's address comes from the audit's resolver and a special-
# purpose one is not connected to (adv34 F7)
fetchwhy() { # name CASE PATTERN
    local out
    out=$(timeout 30 "$SG_CLI" audit "$2.test" --zone "$T/zone" --json --mta-sts-fetch \
        --mta-sts-ca "$T/ca.pem" 2>&1 | "$PY" -c 'import json,sys
j=json.loads(sys.stdin.read())
print(" | ".join(f["detail"] for f in j["findings"] if f["code"]=="mtasts.policy_unreachable"))')
    if grep -qE "$3" <<<"$out"; then ok "$1"; else ko "$1" "'$out' lacks /$3/"; fi
}
fetchwhy ssrf_loopback ssrf "address (127\.0\.0\.1|::1), which is loopback, private"
fetchwhy ssrf_linklocal linklocal "address (169\.254\.169\.254|fd00::1), which is loopback"
fetchwhy zone_no_address noaddr "mta-sts.noaddr.test has no address"

# offline by default with --zone; and --no-mta-sts-fetch wins
out=$("$SG_CLI" audit good.test --zone "$T/zone" --json 2>&1)
if grep -q '"mtasts.policy_not_fetched"' <<<"$out"; then ok zone_offline_default; else ko zone_offline_default "$(head -c 300 <<<"$out")"; fi
out=$("$SG_CLI" audit gone.test --zone "$T/zone" --json --no-mta-sts-fetch --mta-sts-connect "127.0.0.1:$P1" 2>&1)
if grep -q '"mtasts.policy_not_fetched"' <<<"$out" && ! grep -q policy_unreachable <<<"$out"; then
    ok no_fetch_option
else
    ko no_fetch_option "$(head -c 300 <<<"$out")"
fi
"$SG_CLI" audit good.test --zone "$T/zone" --mta-sts-connect nocolon >/dev/null 2>&1
rc=$?
if [ "$rc" = 2 ]; then ok connect_usage; else ko connect_usage "exit $rc for --mta-sts-connect without a port"; fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -ge 35 ]
