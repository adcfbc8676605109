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
//     until SIGTERM;
//   - as sql-migrate (`sql-migrate up -config=FILE -env=ENV`), it reads the
//     `dir:` of FILE, prints the *.sql files there and exits 0, or fails when
//     there are none: the migrations must have been fetched into the pod.
//
// When DB_HOST is an IP address (a database proxy on the pod's loopback, as
// in examples/cloud-sql-proxy), the migration and every HTTP answer also
// "query the database": an HTTP GET to DB_HOST:DB_PORT (on the e2e node, the
// app image behind the proxy), whose answer they print with DB_USER; the
// migration fails if the database does not answer. Other examples name a
// database by DNS name, which the node cannot resolve: they skip this.
//
// It needs no writable file system and runs as any user.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
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
	if command[0] == "sql-migrate" {
		sqlMigrate(os.Args[1:])
		return
	}
	for _, a := range os.Args[1:] {
		if a == "migrate" {
			answer, err := queryDatabase()
			if err != nil {
				fmt.Fprintf(os.Stderr, "example: %s: %v\n", strings.Join(command, " "), err)
				os.Exit(1)
			}
			fmt.Printf("example: %s: migrated%s\n", strings.Join(command, " "), answer)
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
		answer, err := queryDatabase()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "%s%s\n", strings.Join(command, " "), answer)
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

// queryDatabase asks the database at DB_HOST:DB_PORT when DB_HOST is an IP
// address, and returns what it said with DB_USER, or "" when there is none to ask.
func queryDatabase() (string, error) {
	host := os.Getenv("DB_HOST")
	if net.ParseIP(host) == nil {
		return "", nil
	}
	address := net.JoinHostPort(host, os.Getenv("DB_PORT"))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + address + "/")
	if err != nil {
		return "", fmt.Errorf("database at %s: %w", address, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("database at %s: status %d, %v", address, resp.StatusCode, err)
	}
	return fmt.Sprintf(" as %s; database at %s answered %s", os.Getenv("DB_USER"), address, strings.TrimSpace(string(body))), nil
}

// sqlMigrate does what `sql-migrate up -config=FILE -env=ENV` needs from the
// pod: it finds the migrations folder in FILE and lists the *.sql files in it.
func sqlMigrate(args []string) {
	config := "dbconfig.yml"
	for _, a := range args {
		if strings.HasPrefix(a, "-config=") {
			config = strings.TrimPrefix(a, "-config=")
		}
	}
	data, err := os.ReadFile(config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sql-migrate:", err)
		os.Exit(1)
	}
	dir := ""
	for _, line := range strings.Split(string(data), "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "dir:") {
			dir = strings.TrimSpace(strings.TrimPrefix(t, "dir:"))
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.sql"))
	if len(files) == 0 {
		fmt.Fprintf(os.Stderr, "sql-migrate: no migrations in %q\n", dir)
		os.Exit(1)
	}
	for _, f := range files {
		fmt.Printf("sql-migrate: applying %s\n", f)
	}
	fmt.Printf("sql-migrate: applied %d migrations\n", len(files))
}
