// mkimage packs files into a single-layer linux/amd64 container image and
// writes it as an OCI image-layout tar archive that `ctr images import`
// accepts, with no registry and no container engine involved.
//
//	mkimage -o out.tar -name registry.example/app:1 [-name ...] \
//	  -file /bin/app=path/to/app:0755 -dir /tmp:1777 \
//	  -entrypoint '["/bin/app"]' [-cmd '["--port=8080"]'] [-user 65532] \
//	  [-env KEY=VALUE ...] [-workdir /]
//
// The output depends only on the inputs: entries are sorted, owned by 0:0,
// dated at the Unix epoch, and the layer is stored uncompressed (its digest
// is also its diff ID), so the same inputs give the same image digest.
//
// Naming: containerd's importer (images/archive/importer.go and
// client/import.go, checked in containerd v1.6 and v2) keeps an index entry
// under its io.containerd.image.name annotation, used verbatim; only without
// that does it fall back to org.opencontainers.image.ref.name, which `ctr
// import` then filters through an "import-<date>" prefix. So every -name
// becomes one index entry carrying both annotations (the full name, and its
// tag as the OCI ref name, as `docker save` writes them).
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar"
	defaultPath   = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type jsonList struct {
	set bool
	v   []string
}

func (j *jsonList) String() string { b, _ := json.Marshal(j.v); return string(b) }
func (j *jsonList) Set(s string) error {
	j.set = true
	return json.Unmarshal([]byte(s), &j.v)
}

// entry is one path in the layer: a directory (src == "") or a regular file.
type entry struct {
	name string // without leading slash
	src  string
	mode int64
	dir  bool
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

func main() {
	var (
		out, user, workdir  string
		names, files, dirs  listFlag
		envs                listFlag
		entrypoint, command jsonList
	)
	flag.StringVar(&out, "o", "", "output archive (required)")
	flag.Var(&names, "name", "full image name, e.g. registry.k8s.io/pause:3.10 (repeatable, at least one)")
	flag.Var(&files, "file", "DEST=SRC[:MODE] regular file from SRC at DEST, octal MODE (default: SRC's permission bits) (repeatable)")
	flag.Var(&dirs, "dir", "DEST[:MODE] directory, octal MODE (default 0755) (repeatable)")
	flag.Var(&envs, "env", "KEY=VALUE in the image config (repeatable; default "+defaultPath+")")
	flag.Var(&entrypoint, "entrypoint", "ENTRYPOINT as a JSON array")
	flag.Var(&command, "cmd", "CMD as a JSON array")
	flag.StringVar(&user, "user", "", "USER (default: unset, so the container runs as root)")
	flag.StringVar(&workdir, "workdir", "/", "WORKDIR")
	flag.Parse()
	if out == "" || len(names) == 0 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(out, names, files, dirs, envs, entrypoint, command, user, workdir); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(out string, names, files, dirs, envs []string, entrypoint, command jsonList, user, workdir string) error {
	entries, err := collect(files, dirs)
	if err != nil {
		return err
	}
	layer, err := buildLayer(entries)
	if err != nil {
		return err
	}
	layerDigest := digestOf(layer)

	if len(envs) == 0 {
		envs = []string{defaultPath}
	}
	cfg := map[string]any{
		"Env":        envs,
		"WorkingDir": workdir,
	}
	if entrypoint.set {
		cfg["Entrypoint"] = entrypoint.v
	}
	if command.set {
		cfg["Cmd"] = command.v
	}
	if user != "" {
		cfg["User"] = user
	}
	epoch := time.Unix(0, 0).UTC().Format(time.RFC3339)
	config, err := json.Marshal(map[string]any{
		"created":      epoch,
		"architecture": "amd64",
		"os":           "linux",
		"config":       cfg,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
		"history":      []map[string]any{{"created": epoch, "created_by": "test/e2e/images/mkimage"}},
	})
	if err != nil {
		return err
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaManifest,
		"config":        descriptor{MediaType: mediaConfig, Digest: digestOf(config), Size: int64(len(config))},
		"layers":        []descriptor{{MediaType: mediaLayer, Digest: layerDigest, Size: int64(len(layer))}},
	})
	if err != nil {
		return err
	}

	var manifests []descriptor
	for _, n := range names {
		tag, err := tagOf(n)
		if err != nil {
			return err
		}
		manifests = append(manifests, descriptor{
			MediaType: mediaManifest,
			Digest:    digestOf(manifest),
			Size:      int64(len(manifest)),
			Platform:  &platform{Architecture: "amd64", OS: "linux"},
			Annotations: map[string]string{
				"io.containerd.image.name":          n,
				"org.opencontainers.image.ref.name": tag,
			},
		})
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaIndex,
		"manifests":     manifests,
	})
	if err != nil {
		return err
	}

	// The archive: oci-layout, index.json and the blobs, each once.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, data []byte) error {
		if err := tw.WriteHeader(header(name, 0o644, int64(len(data)))); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(dirHeader(d, 0o755)); err != nil {
			return err
		}
	}
	blobs := map[string][]byte{}
	for _, b := range [][]byte{config, manifest, layer} {
		blobs[strings.TrimPrefix(digestOf(b), "sha256:")] = b
	}
	keys := make([]string, 0, len(blobs))
	for k := range blobs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := add("blobs/sha256/"+k, blobs[k]); err != nil {
			return err
		}
	}
	if err := add("index.json", index); err != nil {
		return err
	}
	if err := add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}

	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Printf("mkimage: %s: %s (manifest %s, %d bytes)\n", out, strings.Join(names, " "), digestOf(manifest), buf.Len())
	return nil
}

// collect turns the -file and -dir flags into a sorted list of entries that
// also holds every parent directory (0755 unless given).
func collect(files, dirs []string) ([]entry, error) {
	byName := map[string]entry{}
	addParents := func(name string) {
		for p := path.Dir(name); p != "." && p != "/"; p = path.Dir(p) {
			if _, ok := byName[p]; !ok {
				byName[p] = entry{name: p, mode: 0o755, dir: true}
			}
		}
	}
	clean := func(dest string) (string, error) {
		n := strings.TrimPrefix(path.Clean("/"+dest), "/")
		if n == "" {
			return "", fmt.Errorf("bad destination %q", dest)
		}
		return n, nil
	}
	for _, d := range dirs {
		dest, mode, err := splitMode(d, 0o755)
		if err != nil {
			return nil, err
		}
		n, err := clean(dest)
		if err != nil {
			return nil, err
		}
		byName[n] = entry{name: n, mode: mode, dir: true}
		addParents(n)
	}
	for _, f := range files {
		dest, rest, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("-file %q: want DEST=SRC[:MODE]", f)
		}
		src, mode, err := splitMode(rest, -1)
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(src)
		if err != nil {
			return nil, err
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file", src)
		}
		if mode < 0 {
			mode = int64(st.Mode().Perm())
		}
		n, err := clean(dest)
		if err != nil {
			return nil, err
		}
		byName[n] = entry{name: n, src: src, mode: mode}
		addParents(n)
	}
	list := make([]entry, 0, len(byName))
	for _, e := range byName {
		list = append(list, e)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	return list, nil
}

// splitMode splits "X:0755" into X and the octal mode; a suffix that is not
// an octal number is part of X.
func splitMode(s string, def int64) (string, int64, error) {
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		if m, err := strconv.ParseInt(s[i+1:], 8, 64); err == nil {
			if m < 0 || m > 0o7777 {
				return "", 0, fmt.Errorf("mode out of range in %q", s)
			}
			return s[:i], m, nil
		}
	}
	return s, def, nil
}

func buildLayer(entries []entry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if e.dir {
			if err := tw.WriteHeader(dirHeader(e.name+"/", e.mode)); err != nil {
				return nil, err
			}
			continue
		}
		data, err := os.ReadFile(e.src)
		if err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(header(e.name, e.mode, int64(len(data)))); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, bytes.NewReader(data)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func header(name string, mode, size int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: size, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
}

func dirHeader(name string, mode int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// tagOf returns the tag of a full image name (registry/repo:tag), which must
// have a tag and no digest.
func tagOf(name string) (string, error) {
	last := name[strings.LastIndexByte(name, '/')+1:]
	i := strings.LastIndexByte(last, ':')
	if strings.ContainsAny(name, "@ ") || i <= 0 || i == len(last)-1 || !strings.Contains(name, "/") {
		return "", fmt.Errorf("image name %q: want registry/repository:tag", name)
	}
	return last[i+1:], nil
}
