// git stands in for the git command line of examples/sql-migrate-git, with
// go-git (github.com/go-git/go-git/v5, pure Go: one static binary, no shell,
// no libcurl), and serves the repository it clones from:
//
//	git clone [--quiet] [--depth=N] [--branch=REF] URL DIR
//	    A real clone over git's smart HTTP protocol, with the user and password
//	    of URL as HTTP basic auth. REF is a tag or a branch. --depth is accepted
//	    and ignored: go-git's server side has no shallow support
//	    (plumbing/transport/server: "shallow not supported"), so the clone has
//	    the whole (one commit) history. On the e2e node, which has no DNS, the
//	    host of URL is replaced by the Service e2e-git of the pod's namespace
//	    when there is one (E2E_GIT_SERVICE_HOST/PORT, set by the kubelet), over
//	    plain HTTP; the path and credentials are kept.
//
//	git e2e-serve [--listen=:8080]
//	    Serves, read-only over smart HTTP, one in-memory repository at every
//	    path: a commit of FILE=CONTENT pairs from E2E_GIT_FILES (separated by
//	    '|'), tagged E2E_GIT_TAG, on branch main. Every request needs basic auth
//	    with the password E2E_GIT_TOKEN.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	"github.com/go-git/go-git/v5/storage/memory"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: git clone|e2e-serve ...")
	}
	switch os.Args[1] {
	case "clone":
		clone(os.Args[2:])
	case "e2e-serve":
		serve(os.Args[2:])
	default:
		fail("git: unsupported command %q", os.Args[1])
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(1)
}

func clone(args []string) {
	fs := flag.NewFlagSet("clone", flag.ExitOnError)
	quiet := fs.Bool("quiet", false, "no progress")
	fs.Int("depth", 0, "accepted, ignored (see above)")
	branch := fs.String("branch", "", "tag or branch")
	_ = fs.Parse(args)
	if fs.NArg() != 2 {
		fail("usage: git clone [--quiet] [--depth=N] [--branch=REF] URL DIR")
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil {
		fail("git clone: %v", err)
	}
	if host, port := os.Getenv("E2E_GIT_SERVICE_HOST"), os.Getenv("E2E_GIT_SERVICE_PORT"); host != "" {
		u.Scheme, u.Host = "http", net.JoinHostPort(host, port)
	}
	dir := fs.Arg(1)
	var progress *os.File
	if !*quiet {
		progress = os.Stderr
	}
	var last error
	for _, ref := range []plumbing.ReferenceName{plumbing.NewTagReferenceName(*branch), plumbing.NewBranchReferenceName(*branch)} {
		options := &git.CloneOptions{URL: u.String(), SingleBranch: true, Tags: git.NoTags}
		if progress != nil {
			options.Progress = progress
		}
		if *branch != "" {
			options.ReferenceName = ref
		}
		repo, err := git.PlainClone(dir, false, options)
		if err == nil {
			head, _ := repo.Head()
			fmt.Printf("git: cloned %s at %s (%s) into %s\n", redacted(u), *branch, head.Hash(), dir)
			return
		}
		last = err
		_ = os.RemoveAll(dir)
		if *branch == "" {
			break
		}
	}
	fail("git clone %s: %v", redacted(u), last)
}

func redacted(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	return c.String()
}

func serve(args []string) {
	fs := flag.NewFlagSet("e2e-serve", flag.ExitOnError)
	listen := fs.String("listen", ":8080", "address")
	_ = fs.Parse(args)
	token := os.Getenv("E2E_GIT_TOKEN")
	if token == "" {
		fail("git e2e-serve: E2E_GIT_TOKEN is unset")
	}
	storage, err := repository(os.Getenv("E2E_GIT_FILES"), os.Getenv("E2E_GIT_TAG"))
	if err != nil {
		fail("git e2e-serve: %v", err)
	}
	// Every path serves the one repository.
	backend := server.NewServer(loader{storage})

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, password, ok := r.BasicAuth(); !ok || password != token {
			fmt.Printf("git e2e-serve: %s %s: unauthorized\n", r.Method, r.URL.Path)
			w.Header().Set("WWW-Authenticate", `Basic realm="e2e"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		fmt.Printf("git e2e-serve: %s %s\n", r.Method, r.URL.Path)
		ep, _ := transport.NewEndpoint("http://e2e/repo.git")
		session, err := backend.NewUploadPackSession(ep, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer session.Close()
		switch {
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/info/refs") && r.URL.Query().Get("service") == "git-upload-pack":
			refs, err := session.AdvertisedReferencesContext(r.Context())
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			refs.Prefix = [][]byte{[]byte("# service=git-upload-pack"), pktline.Flush}
			w.Header().Set("Content-Type", "application/x-git-upload-pack-advertisement")
			_ = refs.Encode(w)
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack"):
			request := packp.NewUploadPackRequest()
			if err := request.Decode(r.Body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			response, err := session.UploadPack(r.Context(), request)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/x-git-upload-pack-result")
			_ = response.Encode(w)
		default:
			http.NotFound(w, r)
		}
	})
	srv := &http.Server{Addr: *listen, Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	stop, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	go func() {
		<-stop.Done()
		_ = srv.Shutdown(context.Background())
	}()
	fmt.Printf("git e2e-serve: serving tag %s on %s\n", os.Getenv("E2E_GIT_TAG"), *listen)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fail("git e2e-serve: %v", err)
	}
}

type loader struct{ storage *memory.Storage }

func (l loader) Load(*transport.Endpoint) (storer.Storer, error) { return l.storage, nil }

// repository commits files ("path=content|...") in memory, on main, tagged tag.
func repository(files, tag string) (*memory.Storage, error) {
	storage := memory.NewStorage()
	worktree := memfs.New()
	repo, err := git.Init(storage, worktree)
	if err != nil {
		return nil, err
	}
	if err := repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName("main"))); err != nil {
		return nil, err
	}
	tree, err := repo.Worktree()
	if err != nil {
		return nil, err
	}
	for _, pair := range strings.Split(files, "|") {
		path, content, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("E2E_GIT_FILES: %q is not PATH=CONTENT", pair)
		}
		f, err := worktree.Create(path)
		if err != nil {
			return nil, err
		}
		if _, err := f.Write([]byte(content + "\n")); err != nil {
			return nil, err
		}
		f.Close()
		if _, err := tree.Add(path); err != nil {
			return nil, err
		}
	}
	when := &object.Signature{Name: "e2e", Email: "e2e@e2e.local", When: time.Unix(0, 0).UTC()}
	commit, err := tree.Commit("migrations", &git.CommitOptions{Author: when, Committer: when})
	if err != nil {
		return nil, err
	}
	if _, err := repo.CreateTag(tag, commit, nil); err != nil {
		return nil, err
	}
	return storage, nil
}
