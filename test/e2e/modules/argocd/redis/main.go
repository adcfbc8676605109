// Command redis serves an in-memory Redis (miniredis) on 127.0.0.1 only, for
// Argo CD's cache in the e2e suite. It prints "listening on HOST:PORT" once it
// accepts connections, and serves until SIGINT or SIGTERM.
//
// Usage: redis [-port N]   (0, the default, picks a free port)
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/alicebob/miniredis/v2"
)

func main() {
	port := flag.Int("port", 0, "port on 127.0.0.1 (0: any free port)")
	flag.Parse()
	s := miniredis.NewMiniRedis()
	if err := s.StartAddr(net.JoinHostPort("127.0.0.1", strconv.Itoa(*port))); err != nil {
		fmt.Fprintf(os.Stderr, "redis: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", s.Addr())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	s.Close()
}
