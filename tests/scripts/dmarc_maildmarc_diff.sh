#!/bin/bash
# Differential test: spoofguard's DMARC engine vs Mail::DMARC (Debian
# libmail-dmarc-perl, RFC 7489) on ~1700 generated From domains and
# records, both resolving from the same zone file. Every disagreement
# must be explained by an RFC 7489 vs RFC 9989 difference (see
# tests/interop/dmarc_maildmarc.pl, "explanations").
#
# Env (set by ctest): SG_SRC, SG_CLI (its directory is the build dir),
# SG_CONFORMANCE_DIR (default: tests/conformance).
set -euo pipefail

SRC=${SG_SRC:?SG_SRC not set}
BUILD=$(dirname "${SG_CLI:?SG_CLI not set}")
CONF=${SG_CONFORMANCE_DIR:-${SG_CONFORMANCE_DEFAULT:-$SRC/tests/conformance}}
DRIVER=$BUILD/test_dmarc_interop
PSL=$CONF/dmarc/psl/public_suffix_list.dat
PERL=/usr/bin/perl

if ! $PERL -MMail::DMARC::PurePerl -e1 2>/dev/null; then
    echo "SKIP: Mail::DMARC (libmail-dmarc-perl) not installed"
    exit 77
fi
if [ ! -x "$DRIVER" ]; then
    echo "FAIL: driver $DRIVER not built (target test_dmarc_interop)"
    exit 1
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

$PERL "$SRC/tests/interop/dmarc_maildmarc.pl" gen "$WORK" "$PSL"
SG_CONFORMANCE_DIR=$CONF "$DRIVER" --driver "$WORK/zone.tsv" "$WORK/cases.tsv" "$PSL" \
    > "$WORK/ours.tsv"
$PERL "$SRC/tests/interop/dmarc_maildmarc.pl" compare "$WORK"
