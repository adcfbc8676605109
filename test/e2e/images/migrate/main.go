// migrate stands in for a database migration in the e2e suite: it runs for
// a while, then succeeds or fails with a message, saying on stdout what it
// does. Every flag can also come from the environment (the flag wins):
//
//	--name=NAME           MIGRATE_NAME        what to call the migration in the output (default "migration")
//	--version=V           MIGRATE_VERSION     schema version it "migrates to", printed (default "1")
//	--sleep=DURATION      MIGRATE_SLEEP       how long to run before finishing (default 0s)
//	--tick=DURATION       MIGRATE_TICK        progress line interval while running (default 1s)
//	--fail=MESSAGE        MIGRATE_FAIL        fail with MESSAGE after the sleep (default: succeed)
//	--exit-code=N         MIGRATE_EXIT_CODE   exit code of a failure (default 1)
//	--termination-log=P   MIGRATE_TERMINATION_LOG  also write the outcome to file P, e.g.
//	                      /dev/termination-log, so it shows in the container's
//	                      terminated.message (default: none; nothing is written
//	                      anywhere unless asked)
//
// Exit codes: 0 success, the --exit-code on --fail, 2 bad usage, 143 on
// SIGTERM/SIGINT (the Job was deleted or hit its deadline). It needs no
// writable file system and runs as any user.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	name := fs.String("name", env("MIGRATE_NAME", "migration"), "name shown in the output")
	version := fs.String("version", env("MIGRATE_VERSION", "1"), "schema version, shown in the output")
	sleepS := fs.String("sleep", env("MIGRATE_SLEEP", "0s"), "run this long before finishing")
	tickS := fs.String("tick", env("MIGRATE_TICK", "1s"), "progress line interval")
	fail := fs.String("fail", env("MIGRATE_FAIL", ""), "fail with this message")
	exitS := fs.String("exit-code", env("MIGRATE_EXIT_CODE", "1"), "exit code of a failure")
	termLog := fs.String("termination-log", env("MIGRATE_TERMINATION_LOG", ""), "also write the outcome to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "migrate: unexpected arguments %q\n", fs.Args())
		return 2
	}
	sleep, err1 := time.ParseDuration(*sleepS)
	tick, err2 := time.ParseDuration(*tickS)
	exitCode, err3 := strconv.Atoi(*exitS)
	if err := errors.Join(err1, err2, err3); err != nil {
		fmt.Fprintf(os.Stderr, "migrate: %v\n", err)
		return 2
	}
	if *fail != "" && (exitCode < 1 || exitCode > 255) {
		fmt.Fprintf(os.Stderr, "migrate: --exit-code must be 1-255 with --fail (got %d)\n", exitCode)
		return 2
	}
	if tick <= 0 {
		tick = time.Second
	}

	outcome := func(msg string) {
		if *termLog != "" {
			if err := os.WriteFile(*termLog, []byte(msg), 0o644); err != nil {
				fmt.Fprintf(os.Stderr, "migrate: cannot write %s: %v\n", *termLog, err)
			}
		}
	}

	host, _ := os.Hostname()
	fmt.Printf("migrate: %s: starting, target version %s, on %s as uid %d, will run %s\n",
		*name, *version, host, os.Getuid(), sleep)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	start := time.Now()
	done := time.After(sleep)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-ticker.C:
			fmt.Printf("migrate: %s: running (%s of %s)\n", *name, time.Since(start).Round(time.Millisecond), sleep)
		case s := <-stop:
			msg := fmt.Sprintf("%s: interrupted by %v after %s", *name, s, time.Since(start).Round(time.Millisecond))
			fmt.Fprintln(os.Stderr, "migrate: "+msg)
			outcome(msg)
			return 143
		}
	}

	if *fail != "" {
		msg := fmt.Sprintf("%s: FAILED: %s", *name, *fail)
		fmt.Fprintln(os.Stderr, "migrate: "+msg)
		outcome(msg)
		return exitCode
	}
	msg := fmt.Sprintf("%s: done, schema at version %s after %s", *name, *version, time.Since(start).Round(time.Millisecond))
	fmt.Println("migrate: " + msg)
	outcome(msg)
	return 0
}
