// tcpproxy stands in for a database proxy sidecar (the Cloud SQL Auth Proxy of
// examples/cloud-sql-proxy): it accepts TCP connections on a local port and
// copies bytes both ways to the "database". It takes the real proxy's flags
// that the example uses (cloud-sql-proxy v2.27.0, cmd/root.go):
//
//	--address=A      listen address (default 127.0.0.1, as the real one)
//	--port=N         listen port (default 5432)
//	--health-check   serve /startup, /readiness and /liveness (200 once listening)
//	--http-address=A --http-port=N   where those are served (default localhost:9090)
//	INSTANCE...      the instance connection names: printed, not used
//
// Where the real proxy dials Cloud SQL, this dials the Service named e2e-db in
// the pod's namespace, from the environment variables the kubelet sets for it
// (E2E_DB_SERVICE_HOST, E2E_DB_SERVICE_PORT; the node has no cluster DNS).
// Every connection is logged. SIGTERM stops it with exit 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	address := flag.String("address", "127.0.0.1", "listen address")
	port := flag.Int("port", 5432, "listen port")
	health := flag.Bool("health-check", false, "serve /startup, /readiness and /liveness")
	httpAddress := flag.String("http-address", "localhost", "health check address")
	httpPort := flag.String("http-port", "9090", "health check port")
	flag.Bool("structured-logs", false, "accepted, ignored")
	flag.Parse()

	host, dbPort := os.Getenv("E2E_DB_SERVICE_HOST"), os.Getenv("E2E_DB_SERVICE_PORT")
	if host == "" || dbPort == "" {
		fmt.Fprintln(os.Stderr, "tcpproxy: no Service e2e-db in this namespace (E2E_DB_SERVICE_HOST/PORT unset)")
		os.Exit(1)
	}
	target := net.JoinHostPort(host, dbPort)
	listen := net.JoinHostPort(*address, fmt.Sprint(*port))
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcpproxy:", err)
		os.Exit(1)
	}
	fmt.Printf("tcpproxy: listening on %s for %s, forwarding to %s\n", listen, strings.Join(flag.Args(), ","), target)

	stop, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	if *health {
		ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		mux := http.NewServeMux()
		for _, p := range []string{"/startup", "/readiness", "/liveness"} {
			mux.Handle(p, ok)
		}
		server := &http.Server{Addr: net.JoinHostPort(*httpAddress, *httpPort), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
				fmt.Fprintln(os.Stderr, "tcpproxy: health check:", err)
				os.Exit(1)
			}
		}()
	}
	go func() {
		<-stop.Done()
		ln.Close()
	}()

	var wg sync.WaitGroup
	for {
		client, err := ln.Accept()
		if err != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			forward(client, target)
		}()
	}
	fmt.Println("tcpproxy: stopping")
	wg.Wait()
}

// forward copies between client and a new connection to target until both directions end.
func forward(client net.Conn, target string) {
	defer client.Close()
	server, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tcpproxy: %s -> %s: %v\n", client.RemoteAddr(), target, err)
		return
	}
	defer server.Close()
	fmt.Printf("tcpproxy: %s -> %s\n", client.RemoteAddr(), target)
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(server, client)
		if c, ok := server.(*net.TCPConn); ok {
			_ = c.CloseWrite()
		}
		close(done)
	}()
	_, _ = io.Copy(client, server)
	if c, ok := client.(*net.TCPConn); ok {
		_ = c.CloseWrite()
	}
	<-done
}
