// shop is the web app of the release tests: a small HTTP service backed by
// PostgreSQL, in the shape of a framework app (one image, a `serve` and a
// `migrate` subcommand, like `php artisan migrate`). Each image of
// e2e.local/shop:N.0.0 sets SHOP_VERSION=N and holds the migrations of
// release N in /migrations, which /bin/sql-migrate (the real tool, built from
// its Go module) reads too. The connection comes from libpq's environment
// variables (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSSLMODE).
//
//	shop serve [--port=8080] [--shutdown-delay=3s]
//	    GET  /healthz  200 once the database answers; 503 from SIGTERM on
//	    GET  /orders   the newest orders, with the columns this release knows
//	    POST /orders   writes an order with the columns this release knows
//	    Every answer carries X-Shop-Version and X-Shop-Pod. On SIGTERM it
//	    keeps serving for --shutdown-delay (with /healthz failing, while the
//	    endpoint is taken out of the Service), then finishes what is in
//	    flight and exits 0.
//	shop migrate [--dir=/migrations]
//	    the framework-style migrator: applies, in order, each *.sql file's
//	    "-- +migrate Up" part not yet recorded in shop_migrations, each in a
//	    transaction that also records it (with clock_timestamp() when it
//	    started and ended), under an advisory lock. Exit 1 on the first error.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"cdk8s-migrated-app/test/e2e/images/internal/drain"
	_ "github.com/lib/pq"
)

// The columns of orders that each release writes and reads besides id.
var columns = map[string][]string{
	"1": {"item"},
	"2": {"item", "note"},
	"3": {"item", "note", "sku"},
	"4": {"item", "note", "sku"},
	"5": {"item", "sku"},
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("shop: ")
	if len(os.Args) < 2 {
		log.Print("usage: shop serve|migrate [flags]")
		os.Exit(2)
	}
	version := os.Getenv("SHOP_VERSION")
	if _, ok := columns[version]; !ok {
		log.Printf("SHOP_VERSION=%q: not a release this program knows", version)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		os.Exit(serve(version, os.Args[2:]))
	case "migrate":
		os.Exit(migrate(os.Args[2:]))
	default:
		log.Printf("unknown subcommand %q", os.Args[1])
		os.Exit(2)
	}
}

func serve(version string, args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	port := fs.Int("port", 8080, "port to listen on, all addresses")
	delay := fs.Duration("shutdown-delay", 3*time.Second, "keep serving this long after SIGTERM")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	db, err := sql.Open("postgres", "")
	if err != nil {
		log.Print(err)
		return 1
	}
	db.SetMaxOpenConns(10)
	pod, _ := os.Hostname()
	cols := columns[version]
	var stopping atomic.Bool

	reply := func(w http.ResponseWriter, status int, body any) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Shop-Version", version)
		w.Header().Set("X-Shop-Pod", pod)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
	fail := func(w http.ResponseWriter, err error) {
		log.Print(err)
		reply(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if stopping.Load() {
			reply(w, http.StatusServiceUnavailable, "stopping")
		} else if err := db.PingContext(ctx); err != nil {
			reply(w, http.StatusServiceUnavailable, err.Error())
		} else {
			reply(w, http.StatusOK, "ok")
		}
	})
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		rows, err := db.QueryContext(r.Context(),
			fmt.Sprintf("SELECT id, %s FROM orders ORDER BY id DESC LIMIT 5", strings.Join(cols, ", ")))
		if err != nil {
			fail(w, err)
			return
		}
		defer rows.Close()
		orders := []map[string]any{}
		for rows.Next() {
			var id int64
			values := make([]sql.NullString, len(cols))
			dest := []any{&id}
			for i := range values {
				dest = append(dest, &values[i])
			}
			if err := rows.Scan(dest...); err != nil {
				fail(w, err)
				return
			}
			order := map[string]any{"id": id}
			for i, c := range cols {
				order[c] = values[i].String
			}
			orders = append(orders, order)
		}
		if err := rows.Err(); err != nil {
			fail(w, err)
			return
		}
		reply(w, http.StatusOK, map[string]any{"version": version, "pod": pod, "orders": orders})
	})
	var n atomic.Int64
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		// Twenty items over and over: plenty of duplicates for release 3 to trip on.
		k := n.Add(1) % 20
		values := map[string]string{"item": fmt.Sprintf("item-%d", k), "note": "from release " + version, "sku": fmt.Sprintf("sku-%d", k)}
		args := make([]any, len(cols))
		marks := make([]string, len(cols))
		for i, c := range cols {
			args[i], marks[i] = values[c], fmt.Sprintf("$%d", i+1)
		}
		var id int64
		err := db.QueryRowContext(r.Context(), fmt.Sprintf("INSERT INTO orders (%s) VALUES (%s) RETURNING id",
			strings.Join(cols, ", "), strings.Join(marks, ", ")), args...).Scan(&id)
		if err != nil {
			fail(w, err)
			return
		}
		reply(w, http.StatusCreated, map[string]any{"version": version, "pod": pod, "id": id})
	})

	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", *port))
	if err != nil {
		log.Print(err)
		return 1
	}
	log.Printf("release %s serving on :%d (columns %s)", version, *port, strings.Join(cols, ", "))
	return drain.Serve(&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln, *delay, &stopping)
}

func migrate(args []string) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	dir := fs.String("dir", "/migrations", "folder of the *.sql migrations")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := applyAll(*dir); err != nil {
		log.Printf("FAILED: %v", err)
		return 1
	}
	return 0
}

func applyAll(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil {
		return err
	}
	slices.Sort(files)
	db, err := sql.Open("postgres", "")
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS shop_migrations (
		id text PRIMARY KEY, started_at timestamptz NOT NULL, finished_at timestamptz NOT NULL)`); err != nil {
		return err
	}
	applied := 0
	for _, f := range files {
		id := filepath.Base(f)
		done, err := applyOne(ctx, db, id, f)
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		if done {
			applied++
			log.Printf("applied %s", id)
		}
	}
	log.Printf("applied %d migrations, %d already there", applied, len(files)-applied)
	return nil
}

// applyOne applies migration file f as id unless it is recorded already; it
// reports whether it applied it.
func applyOne(ctx context.Context, db *sql.DB, id, f string) (bool, error) {
	text, err := os.ReadFile(f)
	if err != nil {
		return false, err
	}
	up, _, found := strings.Cut(string(text), "-- +migrate Down")
	_, up, found2 := strings.Cut(up, "-- +migrate Up")
	if !found || !found2 {
		return false, errors.New(`no "-- +migrate Up" and "-- +migrate Down" parts`)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	// One migrator at a time: a second one waits here, then finds the work done.
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(7140)"); err != nil {
		return false, err
	}
	var exists bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM shop_migrations WHERE id = $1)", id).Scan(&exists); err != nil || exists {
		return false, err
	}
	var started time.Time
	if err := tx.QueryRowContext(ctx, "SELECT clock_timestamp()").Scan(&started); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, up); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO shop_migrations VALUES ($1, $2, clock_timestamp())", id, started); err != nil {
		return false, err
	}
	return true, tx.Commit()
}
