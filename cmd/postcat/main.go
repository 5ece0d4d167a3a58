// Command postcat shows the contents of Postfix queue files, like
// postcat(1) of Postfix 3.7.11.
package main

import "github.com/qmqpd-go/qmqpd/internal/postcat"

func main() { postcat.Main() }
