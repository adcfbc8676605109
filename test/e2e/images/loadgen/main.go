// loadgen is the release tests' traffic: it runs on the e2e node (in the
// cluster's network namespace, so a Service's ClusterIP routes through
// kube-proxy's rules like any client's) and sends requests to one URL at a
// steady rate, alternating GET and POST, each on a new connection (no
// keep-alive, so no request can land on a connection that a stopping pod has
// just closed), until SIGINT/SIGTERM or a bound. It is no container image.
//
//	loadgen --url=URL [--rate=20] [--timeout=2s] [--max-duration=10m] [--max-requests=20000] --out=FILE
//
// It writes one JSON line per request to FILE, in the order they end:
//
//	{"start":<unix ms>,"end":<unix ms>,"method":"GET","status":200,"version":"2","pod":"shop-...","error":""}
//
// status is 0 when no response came (connection refused or reset, timeout:
// error says which); version and pod are the X-Shop-Version and X-Shop-Pod
// headers. On exit it prints "loadgen: N requests, M failed" on stderr.
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

type record struct {
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
	Method  string  `json:"method"`
	Status  int     `json:"status"`
	Version string  `json:"version"`
	Pod     string  `json:"pod"`
	Error   string  `json:"error"`
}

func ms(t time.Time) float64 { return float64(t.UnixNano()) / 1e6 }

func main() {
	log.SetFlags(0)
	log.SetPrefix("loadgen: ")
	url := flag.String("url", "", "where to send the requests (required)")
	rate := flag.Float64("rate", 20, "requests per second")
	timeout := flag.Duration("timeout", 2*time.Second, "per request, from dial to the end of the body")
	maxDuration := flag.Duration("max-duration", 10*time.Minute, "stop after this long")
	maxRequests := flag.Int("max-requests", 20000, "stop after this many requests")
	out := flag.String("out", "", "JSON lines, one per request (required)")
	flag.Parse()
	if *url == "" || *out == "" || *rate <= 0 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Timeout: *timeout, Transport: &http.Transport{DisableKeepAlives: true}}

	var mu sync.Mutex
	enc := json.NewEncoder(f)
	sent, failed := 0, 0
	write := func(r record) {
		mu.Lock()
		defer mu.Unlock()
		if r.Status < 200 || r.Status > 299 {
			failed++
		}
		if err := enc.Encode(r); err != nil {
			log.Fatal(err)
		}
	}
	one := func(method string) {
		r := record{Start: ms(time.Now()), Method: method}
		var body io.Reader
		if method == http.MethodPost {
			body = strings.NewReader("{}")
		}
		req, err := http.NewRequest(method, *url, body)
		if err == nil {
			var resp *http.Response
			if resp, err = client.Do(req); err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				r.Status, r.Version, r.Pod = resp.StatusCode, resp.Header.Get("X-Shop-Version"), resp.Header.Get("X-Shop-Pod")
			}
		}
		if err != nil {
			r.Status, r.Error = 0, err.Error()
		}
		r.End = ms(time.Now())
		write(r)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	deadline := time.After(*maxDuration)
	tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
	defer tick.Stop()
	var wg sync.WaitGroup
loop:
	for sent < *maxRequests {
		select {
		case <-stop:
			break loop
		case <-deadline:
			break loop
		case <-tick.C:
			method := http.MethodGet
			if sent%2 == 1 {
				method = http.MethodPost
			}
			sent++
			wg.Add(1)
			go func() { defer wg.Done(); one(method) }()
		}
	}
	wg.Wait()
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	log.Printf("%d requests, %d failed", sent, failed)
}
