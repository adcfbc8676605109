// app stands in for the application the e2e suite deploys: a small HTTP
// server. Every flag can also come from the environment (the flag wins):
//
//	--port=N               PORT                port to listen on, all addresses (default 8080)
//	--version=V            APP_VERSION         what GET / reports (default "dev")
//	--ready-after=DURATION APP_READY_AFTER     /healthz fails (503) until this long after start (default 0s)
//	--ready=BOOL           APP_READY           false: /healthz never succeeds, to make a rollout stall (default true)
//	--shutdown-delay=D     APP_SHUTDOWN_DELAY  after SIGTERM, keep serving (with /healthz failing)
//	                                           this long before closing (default 0s)
//
// Endpoints: GET /healthz ("ok", or 503 "not ready"), GET / (JSON:
// {"version": ..., "hostname": ...}), GET /version (the version, plain text).
// SIGTERM or SIGINT: stop accepting, finish requests in flight (at most 10 s),
// exit 0. It needs no writable file system and runs as any user.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"cdk8s-migrated-app/test/e2e/images/internal/drain"
)

func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("app: ")
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	portS := fs.String("port", env("PORT", "8080"), "port to listen on")
	version := fs.String("version", env("APP_VERSION", "dev"), "version reported by GET /")
	readyAfterS := fs.String("ready-after", env("APP_READY_AFTER", "0s"), "fail /healthz until this long after start")
	readyS := fs.String("ready", env("APP_READY", "true"), "false: never ready")
	delayS := fs.String("shutdown-delay", env("APP_SHUTDOWN_DELAY", "0s"), "keep serving this long after SIGTERM")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		log.Printf("unexpected arguments %q", fs.Args())
		return 2
	}
	port, err1 := strconv.Atoi(*portS)
	readyAfter, err2 := time.ParseDuration(*readyAfterS)
	readyFlag, err3 := strconv.ParseBool(*readyS)
	delay, err4 := time.ParseDuration(*delayS)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		log.Print(err)
		return 2
	}
	if port < 1 || port > 65535 {
		log.Printf("bad port %d", port)
		return 2
	}

	host, _ := os.Hostname()
	start := time.Now()
	var stopping atomic.Bool
	ready := func() bool {
		return readyFlag && !stopping.Load() && time.Since(start) >= readyAfter
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, *version)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"version": *version, "hostname": host})
	})

	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		log.Print(err)
		return 1
	}
	log.Printf("version %s listening on :%d as uid %d (ready after %s, ready=%t)", *version, port, os.Getuid(), readyAfter, readyFlag)
	return drain.Serve(&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln, delay, &stopping)
}
