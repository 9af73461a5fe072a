#!/usr/bin/perl
# Mail::DKIM side of bench/dkim_bench.c.
#
# usage: /usr/bin/perl dkim_peers.pl DIR SECONDS
#
# Same protocol as dkim_peers.py: for every RSA case in DIR/cases.tsv,
# verify the signed message and sign the unsigned one (rsa-sha256,
# relaxed/relaxed), each once untimed (its verdict reported; the signature
# made goes to DIR/peersig_maildkim_<case>.eml), then repeated until
# SECONDS of process CPU time. Mail::DKIM 1.20230212 has no Ed25519, so
# those cases are skipped. Key records come from memory:
# Mail::DKIM::DNS::query is replaced by a hash lookup. Prints
#   op=verify case=rsa-2k n=12 cpu=0.41 ok=1
# and at the end "hwm=KiB", the peak RSS (VmHWM) of the process.
use strict;
use warnings;

use Mail::DKIM::PrivateKey;
use Mail::DKIM::Signer;
use Mail::DKIM::Verifier;
use Net::DNS;
use Time::HiRes qw(clock_gettime CLOCK_PROCESS_CPUTIME_ID);

my ( $dir, $seconds ) = @ARGV;
die "usage: dkim_peers.pl DIR SECONDS\n" unless defined $seconds;

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "$path: $!\n";
    local $/;
    my $data = <$fh>;
    close $fh;
    return $data;
}

# DNS name -> Net::DNS::RR (TXT split into 255-byte strings, RFC 1035 3.3)
my %rrs;
for my $line ( split /\n/, slurp("$dir/keys.tsv") ) {
    my ( $name, $rec ) = split /\t/, $line, 2;
    my @strings = unpack '(a255)*', $rec;
    $rrs{ lc $name } = Net::DNS::RR->new(
        owner   => $name,
        type    => 'TXT',
        ttl     => 3600,
        txtdata => \@strings,
    );
}
{
    no warnings 'redefine';
    *Mail::DKIM::DNS::query = sub {
        my ( $domain, $type ) = @_;
        $domain = lc $domain;
        $domain =~ s/\.$//;
        my $rr = $rrs{$domain};
        if ( $rr && uc $type eq 'TXT' ) {
            $@ = 'NOERROR';
            return ($rr);
        }
        $@ = 'NXDOMAIN';
        return;
    };
}

my $key = Mail::DKIM::PrivateKey->load( File => "$dir/rsa.pem" );

sub cpu { return clock_gettime(CLOCK_PROCESS_CPUTIME_ID) }

sub timed {
    my ($fn) = @_;
    my $first = $fn->();
    my $n     = 0;
    my $t0    = cpu();
    my $t;
    while (1) {
        $fn->();
        $n++;
        $t = cpu() - $t0;
        last if $t >= $seconds && $n >= 2;
    }
    return ( $first, $n, $t );
}

$| = 1;
for my $line ( split /\n/, slurp("$dir/cases.tsv") ) {
    my ( $name, $alg, $selector, $plain_file, $signed_file ) = split /\t/, $line;
    next if $alg ne 'rsa';
    my $signed = slurp("$dir/$signed_file");
    my $plain  = slurp("$dir/$plain_file");

    my ( $ok, $n, $t ) = timed(
        sub {
            my $v = Mail::DKIM::Verifier->new();
            $v->PRINT($signed);
            $v->CLOSE;
            return $v->result eq 'pass' ? 1 : 0;
        }
    );
    printf "op=verify case=%s n=%d cpu=%.6f ok=%d\n", $name, $n, $t, $ok;

    my $sig;
    ( $sig, $n, $t ) = timed(
        sub {
            my $s = Mail::DKIM::Signer->new(
                Algorithm => 'rsa-sha256',
                Method    => 'relaxed',
                Domain    => 'bench.example',
                Selector  => $selector,
                Key       => $key,
            );
            $s->PRINT($plain);
            $s->CLOSE;
            return $s->signature->as_string;
        }
    );
    open my $out, '>:raw', "$dir/peersig_maildkim_$name.eml" or die "$!\n";
    print $out $sig, "\015\012", $plain;
    close $out;
    printf "op=sign case=%s n=%d cpu=%.6f ok=%d\n", $name, $n, $t, $sig ? 1 : 0;
}

# peak RSS of this process image (VmHWM, interpreter included)
my $hwm = -1;
if ( open my $st, '<', '/proc/self/status' ) {
    while (<$st>) { $hwm = $1 if /^VmHWM:\s+(\d+)/ }
    close $st;
}
print "hwm=$hwm\n";
