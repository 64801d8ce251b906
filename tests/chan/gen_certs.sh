#!/usr/bin/env bash
# Generate the TLS test certificates into $1 with the openssl CLI (run at
# test time; nothing is checked in). Files: ca, server, client, self (self-
# signed), wrongca (server cert from another CA), wronghost (SAN
# example.com only), expired (validity in 2020). Each as NAME.pem + NAME.key.
set -euo pipefail
d=$1
mkdir -p "$d"
cd "$d"
q() { "$@" >/dev/null 2>&1; }
key() { q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"; }
ca() { # name cn
    key "$1"
    q openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 3 -subj "/CN=$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() { # name cn san issuer
    key "$1"
    q openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2"
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$3" >"$1.ext"
    q openssl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" -CAcreateserial \
        -out "$1.pem" -days 3 -extfile "$1.ext"
}
SAN='DNS:localhost,IP:127.0.0.1,IP:::1'
ca ca "ipckit test CA"
ca ca2 "ipckit other CA"
leaf server localhost "$SAN" ca
leaf client ipckit-client "DNS:client" ca
leaf wrongca localhost "$SAN" ca2
leaf wronghost example.com "DNS:example.com" ca
key self
q openssl req -x509 -new -key self.key -out self.pem -days 3 -subj /CN=localhost \
    -addext "subjectAltName=$SAN"
# Expired: `openssl ca` can set explicit past dates.
key expired
q openssl req -new -key expired.key -out expired.csr -subj /CN=localhost
cat >ca.cnf <<CNF
[ca]
default_ca = d
[d]
dir = .
database = index.txt
new_certs_dir = .
serial = serial.txt
default_md = sha256
policy = p
copy_extensions = none
x509_extensions = e
[p]
commonName = supplied
[e]
subjectAltName = $SAN
CNF
: >index.txt
echo 1000 >serial.txt
q openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr \
    -out expired.pem -startdate 20200101000000Z -enddate 20200102000000Z -notext
test -s expired.pem
