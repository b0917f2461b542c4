// The Go side of netrpc's gob interop test (tests/gob_go.rs).
//
//	gobpeer encode   writes the corpus to stdout as one gob stream: for each case, its name
//	                 (a string) and then its value
//	gobpeer decode   reads such a stream from stdin, decodes every value into the Go type of
//	                 the case it names and compares it with the corpus, printing
//	                 "ok: NAME" or "mismatch: NAME: ...", then "done N"
package main

import (
	"bufio"
	"encoding/gob"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
)

type Point struct{ X, Y int }

type Inner struct {
	Name string
	Tags []string
	P    *Point
}

type Everything struct {
	I          int
	I8         int8
	I64        int64
	U          uint
	U8         uint8
	U64        uint64
	F32        float32
	F64        float64
	B          bool
	R          rune
	S          string
	Bytes      []byte
	Points     []Point
	ByName     map[string]Point
	ByNum      map[int]string
	Arr        [3]int
	Grid       [2][2]uint8
	Ptr        *Point
	NilPtr     *Point
	Inner      Inner
	Empty      struct{}
	EmptySlice []int
	EmptyMap   map[string]int
	Kids       []Inner
}

type Tree struct {
	Name   string
	Kids   []*Tree
	Parent *Tree
}

type Holder struct {
	Name string
	Any  interface{}
}

type testCase struct {
	name  string
	value interface{}
}

func corpus() []testCase {
	mib := make([]byte, 1<<20)
	for i := range mib {
		mib[i] = byte(i * 7)
	}
	full := Everything{
		I: -123456789, I8: -128, I64: math.MinInt64, U: 42, U8: 255, U64: math.MaxUint64,
		F32: 1.5, F64: -2.75e300, B: true, R: 'é', S: "héllo, 世界 ✓",
		Bytes:      []byte{0, 1, 2, 255},
		Points:     []Point{{1, 2}, {-3, 4}, {}},
		ByName:     map[string]Point{"a": {1, 2}, "zero": {}},
		ByNum:      map[int]string{-1: "minus one", 1 << 40: "big", 0: ""},
		Arr:        [3]int{1, -2, 3},
		Grid:       [2][2]uint8{{1, 2}, {3, 4}},
		Ptr:        &Point{5, 6},
		Inner:      Inner{Name: "inner", Tags: []string{"x", "y"}, P: &Point{7, 8}},
		EmptySlice: []int{},
		EmptyMap:   map[string]int{},
		Kids:       []Inner{{Name: "a"}, {P: &Point{1, 1}}, {}},
	}
	return []testCase{
		{"int", -123456789},
		{"int_min", int64(math.MinInt64)},
		{"uint_max", uint64(math.MaxUint64)},
		{"float", 1234.5678},
		{"float_inf", math.Inf(-1)},
		{"bool", true},
		{"string", "héllo, 世界 ✓"},
		{"bytes_1mib", mib},
		{"point", Point{22, 33}},
		{"points", []Point{{1, 2}, {-3, 4}}},
		{"map_string_struct", map[string]Point{"a": {1, 2}, "b": {}}},
		{"map_int_string", map[int]string{-1: "minus", 1 << 40: "big"}},
		{"array", [3]int{1, 2, 3}},
		{"grid", [2][2]uint8{{1, 2}, {3, 4}}},
		{"ptr_nil", Inner{Name: "n"}},
		{"ptr_set", Inner{Name: "n", Tags: []string{"x", "y"}, P: &Point{5, 6}}},
		{"empty_slice", []int{}},
		{"empty_slice_of_structs", []Inner{}},
		{"empty_map", map[string]Point{}},
		{"zero_struct", Inner{}},
		{"zero_everything", Everything{}},
		{"everything", full},
		{"empty_struct", struct{}{}},
		{"structs_with_nils", []Inner{{Name: "a"}, {P: &Point{1, 1}}}},
		{"tree", Tree{Name: "root", Kids: []*Tree{{Name: "a"}, {Name: "b", Kids: []*Tree{{Name: "c"}}}}, Parent: &Tree{Name: "up"}}},
		{"interface_struct", Holder{Name: "h", Any: Point{7, 8}}},
		{"interface_nil", Holder{Name: "nil"}},
		{"interface_slice", []interface{}{1, "x", 2.5}},
		{"complex", complex(1.5, -2)},
	}
}

// equal is reflect.DeepEqual, except that a nil slice or map equals an empty one: gob
// cannot tell them apart (Go itself decodes an empty slice field as nil).
func equal(a, b reflect.Value) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	switch a.Kind() {
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !equal(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Array:
		for i := 0; i < a.Len(); i++ {
			if !equal(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() || !equal(a.MapIndex(k), bv) {
				return false
			}
		}
		return true
	case reflect.Ptr, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equal(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if !equal(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(a.Interface(), b.Interface())
	}
}

func main() {
	gob.Register(Point{})
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gobpeer encode|decode")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "encode":
		w := bufio.NewWriter(os.Stdout)
		enc := gob.NewEncoder(w)
		for _, c := range corpus() {
			if err := enc.Encode(c.name); err != nil {
				fmt.Fprintln(os.Stderr, "encode", c.name, err)
				os.Exit(1)
			}
			if err := enc.Encode(c.value); err != nil {
				fmt.Fprintln(os.Stderr, "encode", c.name, err)
				os.Exit(1)
			}
		}
		if err := w.Flush(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "decode":
		want := map[string]interface{}{}
		for _, c := range corpus() {
			want[c.name] = c.value
		}
		dec := gob.NewDecoder(bufio.NewReader(os.Stdin))
		n := 0
		for {
			var name string
			if err := dec.Decode(&name); err == io.EOF {
				break
			} else if err != nil {
				fmt.Println("error: reading a case name:", err)
				os.Exit(1)
			}
			expected, ok := want[name]
			if !ok {
				fmt.Println("error: unknown case", name)
				os.Exit(1)
			}
			got := reflect.New(reflect.TypeOf(expected))
			if err := dec.DecodeValue(got); err != nil {
				fmt.Printf("mismatch: %s: decoding: %v\n", name, err)
				os.Exit(1)
			}
			if equal(got.Elem(), reflect.ValueOf(expected)) {
				fmt.Println("ok:", name)
			} else {
				fmt.Printf("mismatch: %s: got %#v, want %#v\n", name, got.Elem().Interface(), expected)
			}
			n++
		}
		fmt.Println("done", n)
	default:
		fmt.Fprintln(os.Stderr, "usage: gobpeer encode|decode")
		os.Exit(2)
	}
}
