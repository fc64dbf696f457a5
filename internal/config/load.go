package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rendezvous-gw/rendezvous/internal/schema"
)

// ErrInvalidConfig is wrapped (through *ValidationError) by every parse and
// validation failure.
var ErrInvalidConfig = errors.New("invalid configuration")

// Problem is one problem with a configuration, located by its YAML path
// ("models[1].deadline") and, when known, its line in the file.
type Problem struct {
	Path    string
	Line    int
	Message string
}

func (p Problem) String() string {
	s := p.Message
	if p.Path != "" {
		s = p.Path + ": " + s
	}
	if p.Line > 0 {
		s += " (line " + strconv.Itoa(p.Line) + ")"
	}
	return s
}

// ValidationError lists every problem found in a configuration at once.
type ValidationError struct {
	Source   string
	Problems []Problem
}

// Error renders every problem on one line, separated by "; ".
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	src := ""
	if e.Source != "" {
		src = " " + e.Source
	}
	n := "problem"
	if len(parts) != 1 {
		n += "s"
	}
	return fmt.Sprintf("invalid configuration%s (%d %s): %s", src, len(parts), n, strings.Join(parts, "; "))
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) true.
func (e *ValidationError) Unwrap() error { return ErrInvalidConfig }

// Load reads, defaults and validates the configuration file at path.
// Relative bundle paths resolve against the file's directory. The error is
// a *ValidationError listing every problem, or a read error.
func Load(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := parse(data, file)
	if err != nil {
		return nil, err
	}
	c.Dir = filepath.Dir(abs)
	return c, c.finish(data)
}

// LoadBytes parses, defaults and validates a configuration held in memory;
// relative bundle paths resolve against dir ("" for the working directory).
func LoadBytes(data []byte, dir string) (*Config, error) {
	c, err := parse(data, "")
	if err != nil {
		return nil, err
	}
	c.Dir = dir
	return c, c.finish(data)
}

// LoadFS parses, defaults and validates the configuration file name in fsys;
// bundle paths are then paths in fsys (relative to name's directory).
func LoadFS(fsys fs.FS, name string) (*Config, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := parse(data, name)
	if err != nil {
		return nil, err
	}
	if dir := path.Dir(name); dir != "." {
		if fsys, err = fs.Sub(fsys, dir); err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
	}
	c.FS = fsys
	return c, c.finish(data)
}

func (c *Config) finish(data []byte) error {
	c.ApplyDefaults()
	if c.FS == nil && c.Dir != "" {
		c.Server.TLS = c.Server.TLS.Resolve(c.Dir)
		if f := c.Auth.TokenFile; f != "" && !filepath.IsAbs(f) {
			c.Auth.TokenFile = filepath.Join(c.Dir, f)
		}
	}
	err := c.Validate()
	var ve *ValidationError
	if errors.As(err, &ve) {
		ve.Source = c.Source
		locate(data, ve.Problems)
	}
	return err
}

var unknownKeyRE = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)
var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// parse decodes YAML strictly: unknown keys and type mismatches become
// problems with their line numbers.
func parse(data []byte, source string) (*Config, error) {
	c := new(Config)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(c)
	if errors.Is(err, io.EOF) {
		err = nil // an empty file is an empty configuration
	}
	if err == nil {
		c.Source = source
		return c, nil
	}
	ve := &ValidationError{Source: source}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		p := Problem{Message: msg}
		if m := lineRE.FindStringSubmatch(msg); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Message = m[2]
		}
		ve.Problems = append(ve.Problems, p)
		return nil, ve
	}
	paths := keyPaths(data)
	for _, msg := range te.Errors {
		p := Problem{Message: msg}
		if m := unknownKeyRE.FindStringSubmatch(msg); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Message = fmt.Sprintf("unknown key %q", m[2])
			p.Path = paths[lineKey{p.Line, m[2]}]
		} else if m := lineRE.FindStringSubmatch(msg); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Message = m[2]
			p.Path = onlyPathOn(paths, p.Line)
		}
		ve.Problems = append(ve.Problems, p)
	}
	return nil, ve
}

// onlyPathOn returns the path of the one key on line, or "" when the line
// holds none or several (a flow mapping).
func onlyPathOn(paths map[lineKey]string, line int) string {
	found := ""
	for k, p := range paths {
		if k.line == line {
			if found != "" {
				return ""
			}
			found = p
		}
	}
	return found
}

type lineKey struct {
	line int
	key  string
}

// keyPaths maps (line, key) of every mapping key to its YAML path.
func keyPaths(data []byte) map[lineKey]string {
	out := map[lineKey]string{}
	walkYAML(data, func(p string, key *yaml.Node) {
		if key.Kind == yaml.ScalarNode {
			out[lineKey{key.Line, key.Value}] = p
		}
	})
	return out
}

// locate fills in the line of each problem whose path (or nearest ancestor
// path) exists in the document.
func locate(data []byte, ps []Problem) {
	lines := map[string]int{}
	walkYAML(data, func(p string, key *yaml.Node) { lines[p] = key.Line })
	for i := range ps {
		if ps[i].Line != 0 {
			continue
		}
		for p := ps[i].Path; p != ""; p = parentPath(p) {
			if l, ok := lines[p]; ok {
				ps[i].Line = l
				break
			}
		}
	}
}

// parentPath strips the last segment: "a.b[2].c" → "a.b[2]" → "a.b" → "a".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// walkYAML calls fn with the path and key node (the item node for sequence
// items) of every value in the document.
func walkYAML(data []byte, fn func(path string, key *yaml.Node)) {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return
	}
	var walk func(n *yaml.Node, p string)
	walk = func(n *yaml.Node, p string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, p)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				kp := k.Value
				if p != "" {
					kp = p + "." + k.Value
				}
				fn(kp, k)
				walk(v, kp)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				ip := fmt.Sprintf("%s[%d]", p, i)
				fn(ip, c)
				walk(c, ip)
			}
		}
	}
	walk(&doc, "")
}

// Validator builds the input validator the schema section declares.
func (c *Config) Validator() (*schema.Validator, error) {
	v, err := schema.New(schema.Options{Fields: c.Schema.Fields, AllowUnknown: !c.RejectUnknown(), MaxStringBytes: c.Schema.MaxStringBytes})
	if err != nil {
		return nil, fmt.Errorf("build input validator: %w", err)
	}
	return v, nil
}

// RejectUnknown reports whether undeclared input fields are rejected.
func (c *Config) RejectUnknown() bool {
	return c.Server.RejectUnknownFields == nil || *c.Server.RejectUnknownFields
}

// BundlePath resolves a bundle path from the configuration: a slash path in
// FS for an embedded configuration, else a file path relative to Dir.
func (c *Config) BundlePath(p string) string {
	if c.FS != nil {
		return path.Clean(p)
	}
	if filepath.IsAbs(p) || c.Dir == "" {
		return filepath.Clean(p)
	}
	return filepath.Join(c.Dir, p)
}

// ReadBundle returns the bytes of the bundle at path p (as written in the
// configuration), from FS or the file system.
func (c *Config) ReadBundle(p string) ([]byte, error) {
	if c.FS != nil {
		return fs.ReadFile(c.FS, c.BundlePath(p))
	}
	return os.ReadFile(c.BundlePath(p))
}

func (c *Config) bundleExists(p string) error {
	var err error
	if c.FS != nil {
		_, err = fs.Stat(c.FS, c.BundlePath(p))
	} else {
		_, err = os.Stat(c.BundlePath(p))
	}
	return err
}
