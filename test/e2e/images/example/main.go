// example stands in for the images of examples/*: the e2e suite applies each
// example's manifests as committed, with only their images swapped for this
// one, which is installed under each command name they use (php, python,
// gunicorn, /app/orders, and its entrypoint). It does what those commands
// would do, as far as the examples need:
//
//   - any command line with a "migrate" argument (php artisan migrate --force,
//     python manage.py migrate --noinput, /app/orders migrate up, flyway's
//     entrypoint with args [migrate]) prints what it "migrates" and exits 0;
//   - anything else serves HTTP, 200 on every path, on the port of its
//     --bind=HOST:PORT, --listen=:PORT or --health=:PORT flag, else 8080,
//     until SIGTERM.
//
// It needs no writable file system and runs as any user.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	command := append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...)
	for _, a := range os.Args[1:] {
		if a == "migrate" {
			fmt.Printf("example: %s: migrated\n", strings.Join(command, " "))
			return
		}
	}
	port := "8080"
	for _, a := range os.Args[1:] {
		for _, flag := range []string{"--bind=", "--listen=", "--health="} {
			if strings.HasPrefix(a, flag) {
				port = a[strings.LastIndex(a, ":")+1:]
			}
		}
	}
	server := &http.Server{Addr: ":" + port, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%s\n", strings.Join(command, " "))
	})}
	stop, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	go func() {
		<-stop.Done()
		ctx, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		_ = server.Shutdown(ctx)
	}()
	fmt.Printf("example: %s: serving on :%s\n", strings.Join(command, " "), port)
	if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
