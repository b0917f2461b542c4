// netrpc-gorpc-peer: a real Go net/rpc (gob) server and client for netrpc's tests.
// Standard library only.
//
//	-mode server: listens on 127.0.0.1:0, prints "listening ADDR", serves gob (rpc.ServeConn).
//	-mode httpserver: the same over HTTP (rpc.HandleHTTP's paths).
//	-mode client -addr A [-http]: runs the checks against a server at A, prints "ok: NAME"
//	 per check, and exits non-zero on the first failure.
//	-mode wires -addr A: calls Arith.Multiply at A with rpc.Dial, rpc.DialHTTP and
//	 jsonrpc.Dial, printing "ok: gob", "ok: http", "ok: json".
//	-mode arith -addr A: calls Arith.Multiply and Arith.Divide, and divides by zero, at A
//	 with rpc.Dial, rpc.DialHTTP and jsonrpc.Dial, printing "ok: arith over gob" (http, json).
package main

import (
	"bytes"
	"encoding/gob"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/rpc"
	"net/rpc/jsonrpc"
	"os"
	"reflect"
	"sync"
	"time"
)

type Args struct{ A, B int }

type Quotient struct{ Quo, Rem int }

type Arith int

func (t *Arith) Multiply(args *Args, reply *int) error {
	*reply = args.A * args.B
	return nil
}

func (t *Arith) Divide(args *Args, quo *Quotient) error {
	if args.B == 0 {
		return errors.New("divide by zero")
	}
	quo.Quo = args.A / args.B
	quo.Rem = args.A % args.B
	return nil
}

type Echo int

func (e *Echo) Echo(arg *string, reply *string) error {
	*reply = *arg
	return nil
}

type Point struct{ X, Y int }

type Inner struct {
	Name string
	Pts  []Point
	P    *Point
}

type Everything struct {
	I        int
	I64      int64
	U        uint
	U64      uint64
	F32      float32
	F64      float64
	B        bool
	S        string
	Bytes    []byte
	Nested   Inner
	Structs  []Point
	ByName   map[string]Point
	ByNum    map[int]string
	Arr      [3]int
	Ptr      *Point
	NilPtr   *Point
	Empty    []Point
	EmptyMap map[string]Point
	Zero     Point
}

type Blob struct{ Data []byte }

type Kinds int

func (k *Kinds) Echo(args *Everything, reply *Everything) error {
	*reply = *args
	return nil
}

func (k *Kinds) Bytes(args *Blob, reply *Blob) error {
	*reply = *args
	return nil
}

// Points returns n points; Points(0) is an empty slice at the top level.
func (k *Kinds) Points(n *int, reply *[]Point) error {
	*reply = make([]Point, *n)
	for i := range *reply {
		(*reply)[i] = Point{i, -i}
	}
	return nil
}

// Len counts the points sent; an empty slice at the top level is 0.
func (k *Kinds) Len(args *[]Point, reply *int) error {
	*reply = len(*args)
	return nil
}

// Names returns n entries; Names(0) is an empty map at the top level.
func (k *Kinds) Names(n *int, reply *map[string]Point) error {
	*reply = map[string]Point{}
	for i := 0; i < *n; i++ {
		(*reply)[fmt.Sprint("p", i)] = Point{i, i}
	}
	return nil
}

// Circle travels in an interface value: Go defines its type inside the first such value on
// a connection.
type Circle struct{ R float64 }

type Shape struct {
	Name string
	Any  interface{}
}

func init() { gob.Register(Circle{}) }

// Radius returns the radius of the Circle in args.Any.
func (k *Kinds) Radius(args *Shape, reply *float64) error {
	c, ok := args.Any.(Circle)
	if !ok {
		return fmt.Errorf("not a circle: %T", args.Any)
	}
	*reply = c.R
	return nil
}

// Circle returns a Shape holding a Circle of radius r.
func (k *Kinds) Circle(r *float64, reply *Shape) error {
	*reply = Shape{"circle", Circle{*r}}
	return nil
}

// Zero returns the zero Point, whatever it is sent.
func (k *Kinds) Zero(args *Point, reply *Point) error {
	*reply = Point{}
	return nil
}

// Moment carries times, which encode themselves (GobEncoder): Later moves At by Secs seconds
// in its own zone, and sends Zero back as it came.
type Moment struct {
	At   time.Time
	Secs int64
	Zero time.Time
	Ptr  *time.Time
}

// Later also sends Ptr back as it came: a pointer to a zero time is sent, unlike a nil one.
func (k *Kinds) Later(args *Moment, reply *Moment) error {
	*reply = Moment{At: args.At.Add(time.Duration(args.Secs) * time.Second), Zero: args.Zero, Ptr: args.Ptr}
	return nil
}

func newServer() *rpc.Server {
	srv := rpc.NewServer()
	for _, rcvr := range []interface{}{new(Arith), new(Echo), new(Kinds)} {
		if err := srv.Register(rcvr); err != nil {
			log.Fatal(err)
		}
	}
	return srv
}

func listen() net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening %s\n", l.Addr())
	return l
}

func fail(format string, a ...interface{}) {
	fmt.Printf("FAIL: "+format+"\n", a...)
	os.Exit(1)
}

func sample() Everything {
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	return Everything{
		I: -1 << 40, I64: -9223372036854775808, U: 1 << 40, U64: 18446744073709551615,
		F32: 1.5, F64: -3.25e100, B: true, S: "héllo, 世界 🚀",
		Bytes:   data,
		Nested:  Inner{Name: "in", Pts: []Point{{1, 2}, {-3, 4}}, P: &Point{5, 6}},
		Structs: []Point{{7, 8}, {0, 0}, {9, -10}},
		ByName:  map[string]Point{"a": {1, 1}, "b": {0, 0}},
		ByNum:   map[int]string{-1: "minus one", 42: "answer"},
		Arr:     [3]int{1, -2, 3},
		Ptr:     &Point{11, 12},
	}
}

func check(c *rpc.Client) {
	var product int
	if err := c.Call("Arith.Multiply", &Args{7, 8}, &product); err != nil || product != 56 {
		fail("Multiply: %v %v", product, err)
	}
	fmt.Println("ok: multiply")

	var q Quotient
	if err := c.Call("Arith.Divide", &Args{15, 4}, &q); err != nil || q != (Quotient{3, 3}) {
		fail("Divide: %v %v", q, err)
	}
	fmt.Println("ok: divide")

	err := c.Call("Arith.Divide", &Args{1, 0}, &q)
	if err == nil || err.Error() != "divide by zero" {
		fail("divide by zero: %v", err)
	}
	if _, ok := err.(rpc.ServerError); !ok {
		fail("divide by zero is not a ServerError: %T", err)
	}
	fmt.Println("ok: divide by zero")

	err = c.Call("Arith.Nope", &Args{1, 2}, &product)
	if err == nil || err.Error() != "rpc: can't find method Arith.Nope" {
		fail("unknown method: %v", err)
	}
	fmt.Println("ok: unknown method")

	for _, r := range []float64{2.5, 4} {
		var got float64
		if err := c.Call("Kinds.Radius", &Shape{"circle", Circle{r}}, &got); err != nil || got != r {
			fail("interface value: %v %v", got, err)
		}
	}
	fmt.Println("ok: interface value")

	err = c.Call("Nope.Nope", &Args{1, 2}, &product)
	if err == nil || err.Error() != "rpc: can't find service Nope.Nope" {
		fail("unknown service: %v", err)
	}
	fmt.Println("ok: unknown service")

	var s string
	if err := c.Call("Echo.Echo", "héllo, 世界", &s); err != nil || s != "héllo, 世界" {
		fail("echo: %q %v", s, err)
	}
	fmt.Println("ok: echo string")

	want := sample()
	var got Everything
	if err := c.Call("Kinds.Echo", &want, &got); err != nil {
		fail("kinds: %v", err)
	}
	// Gob sends no empty maps or nil pointers: compare as Go would see its own round trip.
	if !reflect.DeepEqual(got, want) {
		fail("kinds: got %+v", got)
	}
	fmt.Println("ok: every kind")

	var zero Everything
	got = Everything{I: 99}
	if err := c.Call("Kinds.Echo", &zero, &got); err != nil || !reflect.DeepEqual(got, Everything{I: 99}) {
		// Go leaves what a zero reply does not send; net/rpc gives a fresh reply each call.
		fail("zero kinds: %+v %v", got, err)
	}
	fmt.Println("ok: zero struct")

	var blob Blob
	if err := c.Call("Kinds.Bytes", &Blob{want.Bytes}, &blob); err != nil || !bytes.Equal(blob.Data, want.Bytes) {
		fail("1 MiB: %d bytes, %v", len(blob.Data), err)
	}
	fmt.Println("ok: 1 MiB payload")

	var pts []Point
	if err := c.Call("Kinds.Points", 3, &pts); err != nil || !reflect.DeepEqual(pts, []Point{{0, 0}, {1, -1}, {2, -2}}) {
		fail("points: %v %v", pts, err)
	}
	pts = nil
	if err := c.Call("Kinds.Points", 0, &pts); err != nil || len(pts) != 0 {
		fail("no points: %v %v", pts, err)
	}
	var n int
	if err := c.Call("Kinds.Len", []Point{}, &n); err != nil || n != 0 {
		fail("len of empty: %v %v", n, err)
	}
	if err := c.Call("Kinds.Len", []Point{{1, 1}, {2, 2}}, &n); err != nil || n != 2 {
		fail("len: %v %v", n, err)
	}
	fmt.Println("ok: empty slice at top level")

	var names map[string]Point
	if err := c.Call("Kinds.Names", 0, &names); err != nil || len(names) != 0 {
		fail("no names: %v %v", names, err)
	}
	if err := c.Call("Kinds.Names", 2, &names); err != nil || !reflect.DeepEqual(names, map[string]Point{"p0": {0, 0}, "p1": {1, 1}}) {
		fail("names: %v %v", names, err)
	}
	fmt.Println("ok: empty map at top level")

	var p Point
	if err := c.Call("Kinds.Zero", Point{3, 4}, &p); err != nil || p != (Point{}) {
		fail("zero point: %v %v", p, err)
	}
	fmt.Println("ok: zero struct at top level")

	ist := time.FixedZone("", 5*3600+30*60)
	at := time.Date(2026, 12, 1, 19, 7, 0, 123456789, ist)
	later := at.Add(90 * time.Second).Format(time.RFC3339Nano)
	var m Moment
	if err := c.Call("Kinds.Later", &Moment{At: at, Secs: 90, Ptr: &time.Time{}}, &m); err != nil || m.At.Format(time.RFC3339Nano) != later || !m.Zero.IsZero() || m.Ptr == nil || !m.Ptr.IsZero() {
		fail("time: %v %v", m, err)
	}
	landing := time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC)
	m = Moment{}
	if err := c.Call("Kinds.Later", &Moment{At: landing, Secs: -40}, &m); err != nil || !m.At.Equal(landing.Add(-40*time.Second)) || m.At.Location() != time.UTC || m.Ptr != nil {
		fail("time in UTC: %v %v", m, err)
	}
	fmt.Println("ok: time.Time")

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var r int
			if err := c.Call("Arith.Multiply", &Args{i, -3}, &r); err != nil {
				errs <- err
			} else if r != i*-3 {
				errs <- fmt.Errorf("%d*-3 = %d", i, r)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fail("concurrent: %v", err)
	}
	fmt.Println("ok: 100 concurrent calls")
}

// checkArith calls Arith's two methods, and Divide for its error, as Go's documentation does.
func checkArith(c *rpc.Client, wire string) {
	var product int
	if err := c.Call("Arith.Multiply", &Args{7, 8}, &product); err != nil || product != 56 {
		fail("%s: Multiply: %v %v", wire, product, err)
	}
	var q Quotient
	if err := c.Call("Arith.Divide", &Args{15, 4}, &q); err != nil || q != (Quotient{3, 3}) {
		fail("%s: Divide: %v %v", wire, q, err)
	}
	err := c.Call("Arith.Divide", &Args{1, 0}, &q)
	if err == nil || err.Error() != "divide by zero" {
		fail("%s: divide by zero: %v", wire, err)
	}
	if _, ok := err.(rpc.ServerError); !ok {
		fail("%s: divide by zero is not a ServerError: %T", wire, err)
	}
	c.Close()
	fmt.Printf("ok: arith over %s\n", wire)
}

func main() {
	mode := flag.String("mode", "", "server|httpserver|client|wires|arith")
	addr := flag.String("addr", "", "address to call")
	useHTTP := flag.Bool("http", false, "client: dial with rpc.DialHTTP")
	flag.Parse()
	switch *mode {
	case "server":
		l := listen()
		srv := newServer()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go srv.ServeConn(c)
		}
	case "httpserver":
		l := listen()
		srv := newServer()
		mux := http.NewServeMux()
		mux.Handle(rpc.DefaultRPCPath, srv)
		log.Fatal(http.Serve(l, mux))
	case "client":
		var c *rpc.Client
		var err error
		if *useHTTP {
			c, err = rpc.DialHTTP("tcp", *addr)
		} else {
			c, err = rpc.Dial("tcp", *addr)
		}
		if err != nil {
			fail("dial: %v", err)
		}
		check(c)
		c.Close()
	case "wires":
		var r int
		c, err := rpc.Dial("tcp", *addr)
		if err == nil {
			err = c.Call("Arith.Multiply", &Args{6, 7}, &r)
		}
		if err != nil || r != 42 {
			fail("gob: %v %v", r, err)
		}
		fmt.Println("ok: gob")
		c, err = rpc.DialHTTP("tcp", *addr)
		if err == nil {
			err = c.Call("Arith.Multiply", &Args{6, 8}, &r)
		}
		if err != nil || r != 48 {
			fail("http: %v %v", r, err)
		}
		fmt.Println("ok: http")
		c, err = jsonrpc.Dial("tcp", *addr)
		if err == nil {
			err = c.Call("Arith.Multiply", &Args{6, 9}, &r)
		}
		if err != nil || r != 54 {
			fail("json: %v %v", r, err)
		}
		fmt.Println("ok: json")
	case "arith":
		dials := []struct {
			wire string
			dial func(network, address string) (*rpc.Client, error)
		}{{"gob", rpc.Dial}, {"http", rpc.DialHTTP}, {"json", jsonrpc.Dial}}
		for _, d := range dials {
			c, err := d.dial("tcp", *addr)
			if err != nil {
				fail("%s: dial: %v", d.wire, err)
			}
			checkArith(c, d.wire)
		}
	default:
		log.Fatal("-mode server|httpserver|client|wires|arith")
	}
}
