#!/usr/bin/perl
# Peer read-back of our aggregate reports (issue 16): Mail::DMARC's own
# reader (Mail::DMARC::Report::Receive, Debian libmail-dmarc-perl) walks
# the XML with its XPath queries, without its SQL store. Prints, per file:
#   FILE POLICY_DOMAIN REPORT_ID RECORDS MESSAGES DKIM_PASS SPF_PASS
# --strip-ns first removes the default namespace declaration: this Mail::DMARC
# (1.20211209) predates RFC 9990 and its XPath (/feedback/...) matches only
# elements in no namespace, so with the namespace it finds no record.
use strict;
use warnings;
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use Mail::DMARC::Report::Receive;

my $strip = 0;
if (@ARGV && $ARGV[0] eq '--strip-ns') { $strip = 1; shift @ARGV; }
for my $file (@ARGV) {
    my $xml;
    gunzip($file => \$xml) or die "$file: $GunzipError\n";
    $xml =~ s/ xmlns="urn:ietf:params:xml:ns:dmarc-2\.0"// if $strip;
    my $r   = Mail::DMARC::Report::Receive->new;
    my $dom = XML::LibXML->load_xml(string => $xml);
    my @meta = $dom->findnodes('/feedback/report_metadata');
    my @pol  = $dom->findnodes('/feedback/policy_published');
    my ($domain, $rid) = ('-', '-');
    if (@meta && @pol) {
        $r->do_node_report_metadata($meta[0]);
        my $p = $r->do_node_policy_published($pol[0]);
        $domain = $p->domain;
        $rid    = $r->report->aggregate->metadata->report_id;
    }
    my ($n, $msgs, $dk, $sp) = (0, 0, 0, 0);
    for my $node ($dom->findnodes('/feedback/record')) {
        my $rec = $r->do_node_record($node);
        $n++;
        $msgs += $rec->row->count;
        $dk   += $rec->row->count if $rec->row->policy_evaluated->dkim eq 'pass';
        $sp   += $rec->row->count if $rec->row->policy_evaluated->spf eq 'pass';
    }
    print "$file $domain $rid $n $msgs $dk $sp\n";
}
