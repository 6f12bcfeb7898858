// Package integration holds end-to-end tests that run termgate as real
// processes against real peers: HAProxy in front of proxy nodes, inetutils
// telnetd, OpenSSH sshd, vsftpd, s3270 and curl, all on loopback addresses.
//
// The harness in this package builds the termgate binary once, starts each
// process with its output collected, prints the logs of every process when a
// test fails, and stops everything it started. Nothing imports this package.
//
// Locally a missing peer skips the test with the command that installs it;
// with CI=true it fails.
package integration
