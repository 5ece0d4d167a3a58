// Command postconf is a drop-in replacement for Postfix 3.7.11's
// postconf(1): it shows and edits main.cf and master.cf. See
// internal/postconf.
package main

import "github.com/qmqpd-go/qmqpd/internal/postconf"

func main() { postconf.Main() }
