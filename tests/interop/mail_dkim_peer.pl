#!/usr/bin/perl
# Interop peer on Mail::DKIM (Debian libmail-dkim-perl 1.20230212: RSA
# only), for tests/scripts/dkim_interop.sh.
#
#   mail_dkim_peer.pl sign rsa-sha256 CANON KEYFILE SELECTOR DOMAIN < MSG > SIGNED
#   mail_dkim_peer.pl verify KEYS < MSG     (prints pass, fail, invalid...)
#   mail_dkim_peer.pl verify KEYS FILE...   (one line per file: starting Perl
#                                            and Mail::DKIM costs more than a
#                                            verification)
#   mail_dkim_peer.pl arc-verify KEYS < MSG (the chain: pass, fail, none,
#                                            and Mail::DKIM's detail)
#
# KEYS: lines "selector._domainkey.domain record". Keys are served by a
# stand-in resolver object given to Mail::DKIM::DNS::resolver(): no DNS.
use strict;
use warnings;
use Mail::DKIM::Signer;
use Mail::DKIM::Verifier;
use Mail::DKIM::ARC::Verifier;
use Mail::DKIM::DNS;
use Mail::DKIM::PrivateKey;
use Net::DNS;

package FileResolver;
sub new { my ($c, $keys) = @_; return bless { keys => $keys, err => 'NOERROR' }, $c; }
sub errorstring { return $_[0]{err}; }
sub send {
    my ($self, $name, $type) = @_;
    my $p = Net::DNS::Packet->new($name, $type);
    my $rec = $self->{keys}{lc $name};
    if (!defined $rec) {
        $p->header->rcode('NXDOMAIN');
        return $p;
    }
    my @chunks = unpack('(A255)*', $rec);
    $p->header->rcode('NOERROR');
    $p->push(answer => Net::DNS::RR->new(name => $name, type => 'TXT', ttl => 300,
                                         txtdata => [@chunks]));
    return $p;
}

package main;

binmode STDIN;
binmode STDOUT;
# Mail::DKIM wants CRLF line endings
sub slurp {
    my ($fh) = @_;
    binmode $fh;
    my $m = do { local $/; <$fh> };
    $m =~ s/\r?\n/\r\n/g;
    return $m;
}
my $cmd = shift @ARGV;
my $msg = ($cmd eq 'verify' && @ARGV > 1) ? '' : slurp(\*STDIN);
if ($cmd eq 'sign') {
    my ($alg, $canon, $keyfile, $sel, $dom) = @ARGV;
    my $s = Mail::DKIM::Signer->new(Algorithm => $alg, Method => $canon, Domain => $dom,
                                    Selector => $sel, KeyFile => $keyfile);
    $s->PRINT($msg);
    $s->CLOSE;
    print $s->signature->as_string, "\r\n", $msg;
} elsif ($cmd eq 'verify' || $cmd eq 'arc-verify') {
    my %keys;
    open(my $fh, '<', $ARGV[0]) or die "$ARGV[0]: $!";
    while (my $l = <$fh>) {
        $l =~ s/\r?\n$//;
        my ($n, $r) = split / /, $l, 2;
        $n =~ s/\.$//;
        $keys{lc $n} = $r;
    }
    Mail::DKIM::DNS::resolver(FileResolver->new(\%keys));
    if ($cmd eq 'arc-verify') {
        # Strict: no t= leeway beyond the library's, as in our verifier
        my $a = Mail::DKIM::ARC::Verifier->new(Strict => 1);
        $a->PRINT($msg);
        $a->CLOSE;
        print $a->result, " ", ($a->result_detail // ''), "\n";
        exit 0;
    }
    my @files = @ARGV[1 .. $#ARGV];
    foreach my $f (@files ? @files : (undef)) {
        if (defined $f) {
            open(my $mf, '<', $f) or die "$f: $!";
            $msg = slurp($mf);
            close $mf;
        }
        # one message's error is its result, not the batch's end
        my $r = eval {
            my $v = Mail::DKIM::Verifier->new();
            $v->PRINT($msg);
            $v->CLOSE;
            $v->result;
        };
        print defined $r ? $r : 'error', "\n";
    }
} else {
    exit 2;
}
