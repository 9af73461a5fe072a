#!/usr/bin/env bash
# Remakes the explain fixtures: the messages in msg/ (signed with the keys
# in keys/ at a fixed time, so verification needs --now 1764000100) and
# expected.tsv (what each one must explain as). The signed messages are
# committed; run this only to change them:
#   SG_CLI=build/spoofguard bash tests/data/explain/make.sh
set -euo pipefail
cd "$(dirname "$0")"
SG=${SG_CLI:-../../../build/spoofguard}
T=1764000000
chmod 600 keys/*.private
rm -rf msg && mkdir msg
hdr() { # FROM SUBJECT [extra header lines...]
    printf 'From: %s\nTo: reader@mailbox.example\nSubject: %s\nDate: Mon, 24 Nov 2025 16:00:00 +0000\nMessage-ID: <%s@fixtures.example>\nMIME-Version: 1.0\n' "$1" "$2" "$(printf '%s' "$1$2" | md5sum | cut -c1-16)"
    shift 2
    for l in "$@"; do printf '%s\n' "$l"; done
}
text() { printf 'Content-Type: text/plain; charset=utf-8\n\n%s\n' "$1"; }
html() { printf 'Content-Type: text/html; charset=utf-8\n\n%s\n' "$1"; }
sign() { # DOMAIN < msg
    "$SG" sign --domain "$1" --selector k1 --key "keys/${1%%.example}-k1.private" --timestamp $T
}

{ hdr 'Alice Shop <alice@shop.example>' 'Your order' ; text 'Your order 1234 has shipped. Track it at https://track.shop.example/1234 .'; } | sign shop.example > msg/authentic.eml
{ hdr 'Alice Shop <alice@shop.example>' 'Your receipt'; html '<p>Thanks! See <a href="https://www.shop.example/orders">your orders</a> or <a href="https://help.shop.example/">help</a>.</p>'; } | sign shop.example > msg/authentic_links.eml
{ hdr 'CEO <ceo@shop.example>' 'Urgent wire'; text 'Please wire the money today: https://pay.evil.example/now'; } > msg/forged.eml
{ hdr 'CEO <ceo@shop.example>' 'Urgent wire' 'List-Id: <talk.lists.example>'; text 'Please wire the money today.'; } | sign lists.example > msg/forged_thirdparty.eml
{ hdr 'Bob <bob@nopolicy.example>' '[talk] meeting notes' 'List-Id: Talk <talk.lists.example>' 'Reply-To: talk@lists.example'; text 'Notes are at https://wiki.nopolicy.example/notes'; } | sign lists.example > msg/thirdparty.eml
# two third parties: the one the List-Id names is the one to show, not the top one
{ hdr 'Bob <bob@nopolicy.example>' '[talk] two signers' 'List-Id: Talk <talk.lists.example>'; text 'Relayed twice.'; } | sign lists.example | sign ourco.example > msg/thirdparty_two.eml
# two third parties again, no List-Id: the ARC sealer's signature is named
{ hdr 'Carol <carol@nopolicy.example>' 'Forwarded' ; text 'Forwarded by ourco.'; } | sign ourco.example | sign lists.example |
    "$SG" arc-seal --domain ourco.example --selector k1 --key keys/ourco-k1.private --authserv-id mx.ourco.example \
        --results 'dkim=pass header.d=ourco.example; dmarc=none' --now $T --zone zone > msg/arc_sealed.eml
{ hdr 'Carol <carol@nopolicy.example>' 'Hello'; text 'Hi, long time no see.'; } > msg/unverified.eml
{ hdr 'Dan <dan@monitor.example>' 'Report'; text 'The report is attached.'; } > msg/pnone.eml
{ hdr 'Boss <boss@ourco.example>' 'Gift cards'; text 'Buy gift cards now.'; } > msg/protected.eml
{ hdr 'Boss <boss@ourco.example>' 'Quarterly plan'; text 'The plan is ready.'; } | sign ourco.example > msg/protected_signed.eml
{ hdr 'Eve <eve@nopolicy.example>' 'Two authors' 'From: Alice <alice@shop.example>'; text 'Two From fields.'; } > msg/multifrom.eml
# our signer never signs Sender (not in its list): an unsigned displayed field
{ printf 'Sender: alice@shop.example\nSender: billing@collect-payments.example\n'; { hdr 'Alice Shop <alice@shop.example>' 'Your order'; text 'Your order has shipped.'; } | sign shop.example; } > msg/dupsender.eml
{ printf 'Sender: news@shop.example\n'; { hdr 'Alice Shop <alice@shop.example>' 'Newsletter'; text 'News of the week.'; } | sign shop.example; } > msg/unsigned_sender.eml
{ hdr 'PayPal <service@paypa1.com>' 'Account notice'; text 'Sign in at https://www.paypa1.com/signin to keep your account.'; } > msg/lookalike.eml
{ hdr '"service@paypal.com" <help@helpdesk-mail.example>' 'Account notice'; text 'Please confirm your account.'; } > msg/displayname.eml
{ hdr 'Frank <frank@nopolicy.example>' 'Invoice' 'Reply-To: billing@collect-payments.example'; text 'Please pay the invoice.'; } > msg/replyto.eml
{ hdr 'Grace <grace@nopolicy.example>' 'Links'; html '<p><a href="https://evil.example/login">https://www.paypal.com/login</a> <a href="http://192.0.2.55/x">update</a> <a href="https://paypal.com@evil.example/">account</a> <a href="javascript:alert(1)">click</a> <a href="https://www.paypa1.com/">sign in</a></p>'; } > msg/links.eml
{ hdr 'Heidi <heidi@nopolicy.example>' 'Invoice attached' 'Content-Type: multipart/mixed; boundary="b1"'
  printf '\n--b1\nContent-Type: text/plain\n\nSee the invoice.\n--b1\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename="invoice.pdf.exe"\nContent-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA\n--b1--\n'; } > msg/attachment.eml
{ hdr 'Ivan <ivan@nopolicy.example>' 'Plain report' 'Content-Type: multipart/mixed; boundary="b2"'
  printf '\n--b2\nContent-Type: text/plain\n\nSee the report.\n--b2\nContent-Type: application/pdf\nContent-Disposition: attachment; filename="report.pdf"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b2--\n'; } > msg/attachment_safe.eml
{ hdr '=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@shop.example>' 'Gr=?utf-8?q?=C3=BC=C3=9Fe?='; text 'Viele Gruesse.'; } | sign shop.example > msg/encoded_name.eml
