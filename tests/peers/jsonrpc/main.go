// netrpc-go-peer: a real Go net/rpc/jsonrpc server and client for netrpc's tests.
// Standard library only.
//
//	-mode server: listens on 127.0.0.1:0, prints "listening ADDR", serves Arith and Echo.
//	-mode client -addr A: runs the checks against A, prints "ok: NAME" per check,
//	 and exits non-zero on the first failure.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/rpc"
	"net/rpc/jsonrpc"
	"os"
	"sync"
)

type Args struct{ A, B int }

type Quotient struct{ Quo, Rem int }

// Go's usual JSON shapes: zero fields left out, names in another case.
type SparseArgs struct {
	A int `json:"a,omitempty"`
	B int `json:"b,omitempty"`
}

type SparseQuotient struct {
	Quo int `json:",omitempty"`
	Rem int `json:",omitempty"`
}

type Arith int

func (t *Arith) Multiply(args *Args, reply *int) error {
	*reply = args.A * args.B
	return nil
}

// DivideSparse answers as Divide, leaving zero fields out.
func (t *Arith) DivideSparse(args *Args, quo *SparseQuotient) error {
	var q Quotient
	if err := t.Divide(args, &q); err != nil {
		return err
	}
	*quo = SparseQuotient(q)
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

type EchoArgs struct{ Data []byte }

type EchoReply struct{ Data []byte }

type Echo int

// Test.Nothing takes and gives Go's empty struct, as netrpc's test service does with ().
type Test int

func (t *Test) Nothing(args *struct{}, reply *struct{}) error {
	return nil
}

func (e *Echo) Echo(args *EchoArgs, reply *EchoReply) error {
	reply.Data = args.Data
	return nil
}

func serve() {
	srv := rpc.NewServer()
	if err := srv.Register(new(Arith)); err != nil {
		log.Fatal(err)
	}
	if err := srv.Register(new(Echo)); err != nil {
		log.Fatal(err)
	}
	if err := srv.Register(new(Test)); err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening %s\n", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go srv.ServeCodec(jsonrpc.NewServerCodec(c))
	}
}

func fail(format string, a ...interface{}) {
	fmt.Printf("FAIL: "+format+"\n", a...)
	os.Exit(1)
}

func check(addr string) {
	c, err := jsonrpc.Dial("tcp", addr)
	if err != nil {
		fail("dial: %v", err)
	}
	defer c.Close()

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

	// {"a":6}: B is left out, and A's name is in another case.
	if err := c.Call("Arith.Multiply", &SparseArgs{A: 6}, &product); err != nil || product != 0 {
		fail("omitempty args: %v %v", product, err)
	}
	if err := c.Call("Arith.Multiply", &SparseArgs{A: 6, B: 7}, &product); err != nil || product != 42 {
		fail("lower-case names: %v %v", product, err)
	}
	fmt.Println("ok: omitempty and names in any case")

	err = c.Call("Arith.Divide", &Args{1, 0}, &q)
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

	// Unit is Go's empty struct, {} both ways; a "result": null would break the connection.
	var none struct{}
	if err := c.Call("Test.Nothing", struct{}{}, &none); err != nil {
		fail("empty struct: %v", err)
	}
	if err := c.Call("Arith.Multiply", &Args{2, 2}, &product); err != nil || product != 4 {
		fail("a call after the empty struct: %v %v", product, err)
	}
	fmt.Println("ok: empty struct")

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var r int
			if err := c.Call("Arith.Multiply", &Args{i, 3}, &r); err != nil {
				errs <- err
			} else if r != i*3 {
				errs <- fmt.Errorf("%d*3 = %d", i, r)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fail("concurrent: %v", err)
	}
	fmt.Println("ok: 100 concurrent calls")

	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var echoed EchoReply
	if err := c.Call("Echo.Echo", &EchoArgs{data}, &echoed); err != nil || !bytes.Equal(echoed.Data, data) {
		fail("1 MiB echo: %d bytes back, %v", len(echoed.Data), err)
	}
	fmt.Println("ok: 1 MiB payload")
}

// checkBytes calls Bytes.Reverse, which takes and gives EchoArgs' []byte, as base64.
func checkBytes(addr string) {
	c, err := jsonrpc.Dial("tcp", addr)
	if err != nil {
		fail("dial: %v", err)
	}
	defer c.Close()
	data := make([]byte, 258)
	for i := range data {
		data[i] = byte(i)
	}
	var got EchoReply
	if err := c.Call("Bytes.Reverse", &EchoArgs{data}, &got); err != nil {
		fail("Bytes.Reverse: %v", err)
	}
	for i := range data {
		if got.Data[len(data)-1-i] != data[i] {
			fail("Bytes.Reverse: got %v", got.Data)
		}
	}
	fmt.Println("ok: bytes reversed")
}

func main() {
	mode := flag.String("mode", "", "server|client")
	addr := flag.String("addr", "", "address to call (client)")
	flag.Parse()
	switch *mode {
	case "server":
		serve()
	case "client":
		check(*addr)
	case "bytes":
		checkBytes(*addr)
	default:
		log.Fatal("-mode server|client")
	}
}
