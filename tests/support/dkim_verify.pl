#!/usr/bin/perl
# An independent DKIM verifier for the tests: Perl's Mail::DKIM (Debian: libmail-dkim-perl).
# Reads a message on stdin; the one key it knows comes from DKIM_NAME (the selector's
# record name) and DKIM_RECORD (its TXT value), served by a resolver of its own, so no
# DNS is asked. Prints each signature's result, then "result <overall>".
use strict;
use warnings;
use Mail::DKIM::Verifier;
use Net::DNS;

# A resolver that knows one TXT record: the selector's key, given in DKIM_NAME/DKIM_RECORD.
package LocalResolver;
sub new { return bless {}, shift }
sub errorstring { return 'NOERROR' }
sub send {
    my ($self, $name, $type) = @_;
    my $packet = Net::DNS::Packet->new($name, $type);
    $packet->header->rcode('NOERROR');
    $packet->header->qr(1);
    if (lc $name eq lc $ENV{DKIM_NAME} && $type eq 'TXT') {
        my @chunks = unpack('(A255)*', $ENV{DKIM_RECORD});
        $packet->push(answer => Net::DNS::RR->new(
            name => $name, type => 'TXT', ttl => 300, txtdata => [@chunks]));
    } else {
        $packet->header->rcode('NXDOMAIN');
    }
    return $packet;
}

package main;
Mail::DKIM::DNS::resolver(LocalResolver->new);
binmode STDIN;
my $verifier = Mail::DKIM::Verifier->new();
while (my $line = <STDIN>) {
    $line =~ s/\r?\n\z/\r\n/;
    $verifier->PRINT($line);
}
$verifier->CLOSE;
foreach my $signature ($verifier->signatures) {
    print $signature->result, " ", ($signature->result_detail // ''), "\n";
}
print "result ", $verifier->result, "\n";
