// Package drain stops an HTTP server the way a pod behind a Service should:
// on SIGTERM it keeps serving for a while (its readiness failing meanwhile),
// so that the endpoint is taken out of the Service before it stops, then it
// finishes the requests in flight.
package drain

import (
	"context"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// Serve serves srv on ln until SIGTERM or SIGINT. Then it sets stopping (for
// the readiness check to fail), serves for delay more, finishes what is in
// flight (at most 10 s) and returns 0. It returns 1 if serving or the
// shutdown fails.
func Serve(srv *http.Server, ln net.Listener, delay time.Duration, stopping *atomic.Bool) int {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-stop:
		stopping.Store(true)
		log.Printf("%v: serving %s more, then stopping", s, delay)
		time.Sleep(delay)
	case err := <-served:
		log.Print(err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Printf("shutdown: %v", err)
		return 1
	}
	log.Print("stopped")
	return 0
}
