// faultkit: the clients and the hostile Git remote of the fault tests (tests/faults), standard library only.
// Go's crypto/tls and net/http behave like the Kubernetes API server's webhook client and make a thousand
// concurrent connections cheap.
//
//	faultkit load       round-robin AdmissionReview load over keep-alive connections, API-server retry rules
//	faultkit slowloris  connections that trickle a TLS handshake, headers or a body
//	faultkit proxy      a TCP front for a Git remote that can pass, refuse, black-hole or answer garbage
//	faultkit send       one request (a body file, optionally a huge header); prints the status
//
// load and slowloris run until SIGINT/SIGTERM (or -duration) and print a JSON summary on stdout.
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: faultkit load|slowloris|proxy|send [flags]")
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "load":
		load(args)
	case "slowloris":
		slowloris(args)
	case "proxy":
		proxy(args)
	case "send":
		send(args)
	default:
		fmt.Fprintln(os.Stderr, "faultkit: unknown command", os.Args[1])
		os.Exit(2)
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "faultkit: "+format+"\n", a...)
	os.Exit(2)
}

// stopSignal is closed on SIGINT/SIGTERM or after `duration` (when positive).
func stopSignal(duration time.Duration) <-chan struct{} {
	stop := make(chan struct{})
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		if duration > 0 {
			select {
			case <-signals:
			case <-time.After(duration):
			}
		} else {
			<-signals
		}
		close(stop)
	}()
	return stop
}

func tlsConfig(caFile string) *tls.Config {
	config := &tls.Config{ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if caFile == "" {
		config.InsecureSkipVerify = true
		return config
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		fail("%v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		fail("no certificate in %s", caFile)
	}
	config.RootCAs = pool
	return config
}

func newTransport(caFile string, idle int) *http.Transport {
	return &http.Transport{
		TLSClientConfig:     tlsConfig(caFile),
		MaxIdleConnsPerHost: idle,
		MaxIdleConns:        idle * 4,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		// The API server speaks HTTP/1.1 to webhooks unless they negotiate h2; gitgate does not.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
}

// ---- load ----

type loadSummary struct {
	Sent          int64            `json:"sent"`
	Answered      int64            `json:"answered"`
	Failed        int64            `json:"failed"`
	Late          int64            `json:"late"`
	Retried       int64            `json:"retried"`
	Unsent        int64            `json:"unsent"`
	WrongDecision int64            `json:"wrong_decision"`
	PerBackend    map[string]int64 `json:"per_backend"`
	P50Ms         float64          `json:"p50_ms"`
	P99Ms         float64          `json:"p99_ms"`
	MaxMs         float64          `json:"max_ms"`
	Failures      []string         `json:"failures"`
}

type loadState struct {
	mu        sync.Mutex
	summary   loadSummary
	latencies []time.Duration
	answers   *bufio.Writer // -answers: one line per answered review
}

func (s *loadState) failure(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.summary.Failed++
	if len(s.summary.Failures) < 20 {
		s.summary.Failures = append(s.summary.Failures, text)
	}
}

type body struct {
	template []byte
	expect   string // "true", "false" or "*"
}

// withUID replaces the value of the first "uid" (request.uid) with a fresh one.
func withUID(template []byte, uid string) []byte {
	key := []byte(`"uid":`)
	at := bytes.Index(template, key)
	if at < 0 {
		return template
	}
	open := bytes.IndexByte(template[at+len(key):], '"')
	if open < 0 {
		return template
	}
	start := at + len(key) + open + 1
	end := bytes.IndexByte(template[start:], '"')
	if end < 0 {
		return template
	}
	out := make([]byte, 0, len(template)+len(uid))
	out = append(out, template[:start]...)
	out = append(out, uid...)
	return append(out, template[start+end:]...)
}

func load(args []string) {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	backends := fs.String("backends", "", "comma-separated host:port of each instance")
	ready := fs.String("ready", "", "comma-separated /readyz URL of each instance (same order); empty: always ready")
	caFile := fs.String("ca", "", "CA file the servers' certificates chain to")
	bodies := fs.String("bodies", "", "comma-separated AdmissionReview files, sent in turn")
	expect := fs.String("expect", "", "comma-separated expected 'allowed' per body: true, false or *")
	concurrency := fs.Int("concurrency", 8, "requests in flight")
	duration := fs.Duration("duration", 0, "stop after this long (0: at SIGINT/SIGTERM)")
	deadline := fs.Duration("deadline", 10*time.Second, "a request answered later than this is late; the client gives up at 2x")
	path := fs.String("path", "/validate?timeout=10s", "request target")
	readyEvery := fs.Duration("ready-interval", 50*time.Millisecond, "readiness polling period")
	maxRetries := fs.Int("max-retries", 20, "retries of one request that was never answered on a reused connection or never sent")
	rate := fs.Int("rate", 0, "requests per second in total (0: as fast as the server answers)")
	answersFile := fs.String("answers", "", "write 'uid<TAB>allowed<TAB>reason<TAB>message' per answered review to this file")
	fs.Parse(args)

	hosts := strings.Split(*backends, ",")
	var readyURLs []string
	if *ready != "" {
		readyURLs = strings.Split(*ready, ",")
		if len(readyURLs) != len(hosts) {
			fail("-ready needs one URL per backend")
		}
	}
	var sources []body
	expects := strings.Split(*expect, ",")
	for i, f := range strings.Split(*bodies, ",") {
		data, err := os.ReadFile(f)
		if err != nil {
			fail("%v", err)
		}
		e := "*"
		if i < len(expects) && expects[i] != "" {
			e = expects[i]
		}
		sources = append(sources, body{data, e})
	}

	readiness := make([]atomic.Bool, len(hosts))
	probe := &http.Client{Timeout: time.Second}
	for i := range hosts {
		if readyURLs == nil {
			readiness[i].Store(true)
			continue
		}
		go func(i int) {
			for {
				resp, err := probe.Get(readyURLs[i])
				ok := err == nil && resp.StatusCode == 200
				if resp != nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				readiness[i].Store(ok)
				time.Sleep(*readyEvery)
			}
		}(i)
	}
	transports := make([]*http.Transport, len(hosts))
	clients := make([]*http.Client, len(hosts))
	for i := range hosts {
		transports[i] = newTransport(*caFile, *concurrency)
		clients[i] = &http.Client{Transport: transports[i], Timeout: 2 * *deadline}
	}

	state := &loadState{summary: loadSummary{PerBackend: map[string]int64{}}}
	if *answersFile != "" {
		f, err := os.Create(*answersFile)
		if err != nil {
			fail("%v", err)
		}
		defer f.Close()
		state.answers = bufio.NewWriter(f)
		defer state.answers.Flush()
	}
	stop := stopSignal(*duration)
	var next atomic.Uint64
	var counter atomic.Uint64
	pick := func() int {
		for {
			for range hosts {
				i := int(next.Add(1) % uint64(len(hosts)))
				if readiness[i].Load() {
					return i
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	var tokens chan struct{}
	if *rate > 0 {
		tokens = make(chan struct{}, *concurrency)
		go func() {
			tick := time.NewTicker(time.Second / time.Duration(*rate))
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					select {
					case tokens <- struct{}{}:
					default:
					}
				}
			}
		}()
	}

	var wg sync.WaitGroup
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				if tokens != nil {
					select {
					case <-stop:
						return
					case <-tokens:
					}
				}
				select {
				case <-stop:
					return
				default:
				}
				n := counter.Add(1)
				src := sources[int(n)%len(sources)]
				payload := withUID(src.template, fmt.Sprintf("faultkit-%d-%d", w, n))
				sendOne(state, clients, hosts, pick, *path, payload, src.expect, *deadline, *maxRetries)
			}
		}(w)
	}
	fmt.Println("running")
	os.Stdout.Sync()
	<-stop
	wg.Wait()

	s := &state.summary
	sort.Slice(state.latencies, func(a, b int) bool { return state.latencies[a] < state.latencies[b] })
	if n := len(state.latencies); n > 0 {
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		s.P50Ms = ms(state.latencies[n/2])
		s.P99Ms = ms(state.latencies[n*99/100])
		s.MaxMs = ms(state.latencies[n-1])
	}
	out, _ := json.Marshal(s)
	if state.answers != nil {
		state.answers.Flush()
	}
	fmt.Println(string(out))
}

// sendOne sends one review until it is answered or failed, by the API server's rules: a request that was
// never written, or whose reused keep-alive connection closed before any response byte, is sent again
// (to the next ready instance); one that was sent and got no answer, or a non-200, failed.
func sendOne(state *loadState, clients []*http.Client, hosts []string, pick func() int, path string,
	payload []byte, expect string, deadline time.Duration, maxRetries int) {
	start := time.Now()
	for attempt := 0; ; attempt++ {
		i := pick()
		var gotConn, reused, wrote, firstByte bool
		trace := &httptrace.ClientTrace{
			GotConn:              func(info httptrace.GotConnInfo) { gotConn, reused = true, info.Reused },
			WroteRequest:         func(info httptrace.WroteRequestInfo) { wrote = info.Err == nil },
			GotFirstResponseByte: func() { firstByte = true },
		}
		req, _ := http.NewRequest("POST", "https://"+hosts[i]+path, bytes.NewReader(payload))
		req.Header.Set("Content-Type", "application/json")
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		resp, err := clients[i].Do(req)
		if err != nil {
			retryable := !gotConn || !wrote || (reused && !firstByte)
			if retryable && attempt < maxRetries {
				state.mu.Lock()
				if !gotConn || !wrote {
					state.summary.Unsent++
				} else {
					state.summary.Retried++
				}
				state.mu.Unlock()
				continue
			}
			state.mu.Lock()
			state.summary.Sent++
			state.mu.Unlock()
			state.failure(fmt.Sprintf("%s: no answer after %v (reused=%v wrote=%v): %v", hosts[i],
				time.Since(start).Round(time.Millisecond), reused, wrote, err))
			return
		}
		answer, readErr := io.ReadAll(resp.Body)
		resp.Body.Close()
		elapsed := time.Since(start)
		state.mu.Lock()
		state.summary.Sent++
		state.summary.PerBackend[hosts[i]]++
		state.mu.Unlock()
		if readErr != nil || resp.StatusCode != 200 {
			state.failure(fmt.Sprintf("%s: HTTP %d after %v: %.200s %v", hosts[i], resp.StatusCode,
				elapsed.Round(time.Millisecond), answer, readErr))
			return
		}
		var review struct {
			Response struct {
				UID     string `json:"uid"`
				Allowed bool   `json:"allowed"`
				Status  struct {
					Message string `json:"message"`
				} `json:"status"`
				AuditAnnotations struct {
					Reason string `json:"reason"`
				} `json:"auditAnnotations"`
			} `json:"response"`
		}
		if json.Unmarshal(answer, &review) != nil || !bytes.Contains(payload, []byte(`"`+review.Response.UID+`"`)) ||
			review.Response.UID == "" {
			state.failure(fmt.Sprintf("%s: not a response to this review: %.200s", hosts[i], answer))
			return
		}
		state.mu.Lock()
		defer state.mu.Unlock()
		state.summary.Answered++
		state.latencies = append(state.latencies, elapsed)
		if state.answers != nil {
			r := review.Response
			fmt.Fprintf(state.answers, "%s\t%v\t%s\t%s\n", r.UID, r.Allowed, r.AuditAnnotations.Reason,
				strings.NewReplacer("\t", " ", "\n", " ").Replace(r.Status.Message))
		}
		if elapsed > deadline {
			state.summary.Late++
		}
		if expect != "*" && fmt.Sprint(review.Response.Allowed) != expect {
			state.summary.WrongDecision++
			if len(state.summary.Failures) < 20 {
				state.summary.Failures = append(state.summary.Failures, fmt.Sprintf("wrong decision: %.300s", answer))
			}
		}
		return
	}
}

// ---- slowloris ----

type slowSummary struct {
	Opened         int64 `json:"opened"`
	ClosedByServer int64 `json:"closed_by_server"`
	MaxOpen        int64 `json:"max_open"`
	OpenAtEnd      int64 `json:"open_at_end"`
	DialErrors     int64 `json:"dial_errors"`
}

func slowloris(args []string) {
	fs := flag.NewFlagSet("slowloris", flag.ExitOnError)
	target := fs.String("target", "", "host:port")
	conns := fs.Int("conns", 900, "connections kept open")
	interval := fs.Duration("interval", time.Second, "time between trickled bytes")
	duration := fs.Duration("duration", 0, "stop after this long (0: at SIGINT/SIGTERM)")
	fs.Parse(args)

	var opened, closed, open, maxOpen, dialErrors atomic.Int64
	stop := stopSignal(*duration)
	tlsConf := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}
	var wg sync.WaitGroup
	var established sync.WaitGroup
	established.Add(*conns)
	for c := 0; c < *conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			first := true
			for {
				select {
				case <-stop:
					if first {
						established.Done()
					}
					return
				default:
				}
				raw, err := net.DialTimeout("tcp", *target, 5*time.Second)
				if err != nil {
					dialErrors.Add(1)
					time.Sleep(50 * time.Millisecond)
					continue
				}
				var conn net.Conn = raw
				// Three kinds: a TLS handshake trickled byte by byte; headers trickled after a handshake;
				// a body trickled after complete headers.
				kind := c % 3
				var prefix []byte
				var drip []byte
				switch kind {
				case 0:
					drip = []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
				case 1, 2:
					tc := tls.Client(raw, tlsConf)
					tc.SetDeadline(time.Now().Add(10 * time.Second))
					if err := tc.Handshake(); err != nil {
						raw.Close()
						closed.Add(1)
						time.Sleep(10 * time.Millisecond)
						continue
					}
					tc.SetDeadline(time.Time{})
					conn = tc
					if kind == 1 {
						prefix = []byte("POST /validate HTTP/1.1\r\nHost: localhost\r\n")
						drip = []byte("X-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n")
					} else {
						prefix = []byte("POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
						drip = []byte("{\"apiVersion\":\"admission.k8s.io/v1\",")
					}
				}
				opened.Add(1)
				now := open.Add(1)
				for {
					m := maxOpen.Load()
					if now <= m || maxOpen.CompareAndSwap(m, now) {
						break
					}
				}
				if first {
					established.Done()
					first = false
				}
				// Reads notice the server closing the connection between drips.
				gone := make(chan struct{})
				go func() {
					io.Copy(io.Discard, conn)
					close(gone)
				}()
				_, err = conn.Write(prefix)
				for i := 0; err == nil; i++ {
					select {
					case <-stop:
						conn.Close()
						return
					case <-gone:
						err = errors.New("closed")
					case <-time.After(*interval):
						_, err = conn.Write([]byte{drip[i%len(drip)]})
					}
				}
				conn.Close()
				open.Add(-1)
				closed.Add(1)
			}
		}(c)
	}
	established.Wait()
	fmt.Println("running")
	os.Stdout.Sync()
	<-stop
	openAtEnd := open.Load()
	wg.Wait()
	out, _ := json.Marshal(slowSummary{opened.Load(), closed.Load(), maxOpen.Load(), openAtEnd, dialErrors.Load()})
	fmt.Println(string(out))
}

// ---- proxy ----

type faultProxy struct {
	listen, upstream string
	mu               sync.Mutex
	listener         net.Listener
	conns            map[net.Conn]struct{}
}

func (p *faultProxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *faultProxy) setMode(mode string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if mode == "down" {
		// A remote that is down refuses connections and drops the ones it had.
		if p.listener != nil {
			p.listener.Close()
			p.listener = nil
		}
		for c := range p.conns {
			c.Close()
		}
		return
	}
	if p.listener == nil {
		l, err := net.Listen("tcp", p.listen)
		if err != nil {
			fmt.Fprintln(os.Stderr, "faultkit proxy:", err)
			return
		}
		p.listener = l
		go p.accept(l)
	}
}

func (p *faultProxy) accept(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

var currentMode atomic.Value

func (p *faultProxy) serve(c net.Conn) {
	p.track(c, true)
	defer p.track(c, false)
	defer c.Close()
	switch currentMode.Load().(string) {
	case "blackhole":
		io.Copy(io.Discard, c) // never a byte back
	case "garbage":
		buf := make([]byte, 512)
		c.SetReadDeadline(time.Now().Add(time.Second))
		c.Read(buf)
		junk := make([]byte, 64*1024)
		rand.Read(junk)
		c.Write(junk)
	default:
		u, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
		if err != nil {
			return
		}
		p.track(u, true)
		defer p.track(u, false)
		defer u.Close()
		done := make(chan struct{}, 2)
		go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
		go func() { io.Copy(c, u); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
		<-done
		<-done
	}
}

func proxy(args []string) {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	listen := fs.String("listen", "", "host:port to serve")
	upstream := fs.String("upstream", "", "host:port of the real remote")
	modeFile := fs.String("mode-file", "", "file holding pass, down, blackhole or garbage (polled)")
	lifetime := fs.Duration("lifetime", 10*time.Minute, "exit after this long, in case the test could not kill it")
	fs.Parse(args)
	p := &faultProxy{listen: *listen, upstream: *upstream, conns: map[net.Conn]struct{}{}}
	mode := ""
	deadline := time.Now().Add(*lifetime)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(*modeFile)
		m := strings.TrimSpace(string(data))
		if m == "" {
			m = "pass"
		}
		if m != mode {
			currentMode.Store(m)
			p.setMode(m)
			if mode == "" {
				fmt.Println("running")
				os.Stdout.Sync()
			}
			mode = m
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---- send ----

func send(args []string) {
	fs := flag.NewFlagSet("send", flag.ExitOnError)
	addr := fs.String("addr", "", "host:port")
	caFile := fs.String("ca", "", "CA file")
	path := fs.String("path", "/validate?timeout=10s", "request target")
	bodyFile := fs.String("body-file", "", "request body")
	headerBytes := fs.Int("header-bytes", 0, "add one header of this many bytes")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	fs.Parse(args)
	payload, err := os.ReadFile(*bodyFile)
	if err != nil {
		fail("%v", err)
	}
	client := &http.Client{Transport: newTransport(*caFile, 1), Timeout: *timeout}
	req, _ := http.NewRequest("POST", "https://"+*addr+*path, bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	if *headerBytes > 0 {
		req.Header.Set("X-Big", strings.Repeat("a", *headerBytes))
	}
	start := time.Now()
	resp, err := client.Do(req)
	elapsed := time.Since(start).Milliseconds()
	if err != nil {
		fmt.Printf("status=0 ms=%d error=%v\n", elapsed, err)
		return
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	fmt.Printf("status=%d ms=%d body=%s\n", resp.StatusCode, elapsed, strings.TrimSpace(string(answer)))
}
