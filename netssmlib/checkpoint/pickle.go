package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// This file is a minimal pickle virtual machine: enough of Python's pickle
// protocols 0-5 to read what torch.save writes for a state_dict, with no
// Python. It never executes anything: GLOBAL only names a callable, and
// REDUCE of a known callable (OrderedDict, torch's tensor rebuilders) builds
// the matching Go value; any other callable becomes an inert pyObject.

// pyTuple is a Python tuple.
type pyTuple []any

// pyList is a Python list (a pointer, because lists are mutable and may be
// appended to after they were memoized).
type pyList struct{ items []any }

// pyDict is a Python dict or OrderedDict with its insertion order kept.
type pyDict struct {
	keys  []any
	vals  []any
	index map[any]int // position of string and int keys
}

func (d *pyDict) set(k, v any) {
	switch k.(type) {
	case string, int64:
		if d.index == nil {
			d.index = map[any]int{}
		}
		if i, ok := d.index[k]; ok {
			d.vals[i] = v
			return
		}
		d.index[k] = len(d.keys)
	}
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
}

// pyGlobal is a module-qualified name from GLOBAL / STACK_GLOBAL.
type pyGlobal struct{ module, name string }

func (g pyGlobal) String() string { return g.module + "." + g.name }

// pyObject is the inert result of calling an unknown callable.
type pyObject struct {
	callable any
	args     pyTuple
	state    any
}

// pickleMark is the MARK sentinel on the stack.
type pickleMark struct{}

// pickleVM runs a pickle. persistentLoad resolves BINPERSID / PERSID ids;
// reduce builds values for callables it knows (ok=false: generic object).
type pickleVM struct {
	data           []byte
	pos            int
	stack          []any
	memo           map[int]any
	persistentLoad func(pid any) (any, error)
	reduce         func(fn pyGlobal, args pyTuple) (v any, ok bool, err error)
}

// maxPickleMemo bounds the memo table so corrupt input cannot make us
// allocate without bound (a memo index is not checked against data size).
const maxPickleMemo = 1 << 24

var errPickleTruncated = errors.New("pickle: unexpected end of data")

func (vm *pickleVM) read(n int) ([]byte, error) {
	if n < 0 || vm.pos+n > len(vm.data) || vm.pos+n < vm.pos {
		return nil, errPickleTruncated
	}
	b := vm.data[vm.pos : vm.pos+n]
	vm.pos += n
	return b, nil
}

func (vm *pickleVM) readLine() (string, error) {
	i := bytes.IndexByte(vm.data[vm.pos:], '\n')
	if i < 0 {
		return "", errPickleTruncated
	}
	s := string(vm.data[vm.pos : vm.pos+i])
	vm.pos += i + 1
	return s, nil
}

func (vm *pickleVM) push(v any) { vm.stack = append(vm.stack, v) }

func (vm *pickleVM) pop() (any, error) {
	if len(vm.stack) == 0 {
		return nil, errors.New("pickle: stack underflow")
	}
	v := vm.stack[len(vm.stack)-1]
	vm.stack = vm.stack[:len(vm.stack)-1]
	if _, isMark := v.(pickleMark); isMark {
		return nil, errors.New("pickle: unexpected MARK")
	}
	return v, nil
}

func (vm *pickleVM) top() (any, error) {
	if len(vm.stack) == 0 {
		return nil, errors.New("pickle: stack underflow")
	}
	return vm.stack[len(vm.stack)-1], nil
}

// popMark pops everything above the topmost MARK, and the MARK.
func (vm *pickleVM) popMark() ([]any, error) {
	for i := len(vm.stack) - 1; i >= 0; i-- {
		if _, ok := vm.stack[i].(pickleMark); ok {
			items := append([]any(nil), vm.stack[i+1:]...)
			vm.stack = vm.stack[:i]
			return items, nil
		}
	}
	return nil, errors.New("pickle: MARK not found")
}

func (vm *pickleVM) memoPut(i int, v any) error {
	if i < 0 || i >= maxPickleMemo {
		return fmt.Errorf("pickle: memo index %d out of range", i)
	}
	vm.memo[i] = v
	return nil
}

func (vm *pickleVM) memoGet(i int) error {
	v, ok := vm.memo[i]
	if !ok {
		return fmt.Errorf("pickle: memo index %d was never set", i)
	}
	vm.push(v)
	return nil
}

// run executes the pickle and returns the value STOP leaves.
func (vm *pickleVM) run() (result any, err error) {
	if vm.memo == nil {
		vm.memo = map[int]any{}
	}
	for {
		if vm.pos >= len(vm.data) {
			return nil, errPickleTruncated
		}
		opPos := vm.pos
		op := vm.data[vm.pos]
		vm.pos++
		if err := vm.step(op); err != nil {
			if err == errPickleStop {
				return vm.pop()
			}
			return nil, fmt.Errorf("%w (opcode %q at offset %d)", err, op, opPos)
		}
	}
}

var errPickleStop = errors.New("stop")

func (vm *pickleVM) step(op byte) error {
	switch op {
	case 0x80: // PROTO
		b, err := vm.read(1)
		if err != nil {
			return err
		}
		if b[0] > 5 {
			return fmt.Errorf("pickle: unsupported protocol %d", b[0])
		}
	case 0x95: // FRAME (protocol 4): an 8-byte length we can ignore
		_, err := vm.read(8)
		return err
	case '.': // STOP
		return errPickleStop
	case '(': // MARK
		vm.push(pickleMark{})
	case '0': // POP
		if len(vm.stack) == 0 {
			return errors.New("pickle: stack underflow")
		}
		vm.stack = vm.stack[:len(vm.stack)-1]
	case '1': // POP_MARK
		_, err := vm.popMark()
		return err
	case '2': // DUP
		v, err := vm.top()
		if err != nil {
			return err
		}
		vm.push(v)
	case 'N': // NONE
		vm.push(nil)
	case 0x88: // NEWTRUE
		vm.push(true)
	case 0x89: // NEWFALSE
		vm.push(false)
	case 'K': // BININT1
		b, err := vm.read(1)
		if err != nil {
			return err
		}
		vm.push(int64(b[0]))
	case 'M': // BININT2
		b, err := vm.read(2)
		if err != nil {
			return err
		}
		vm.push(int64(binary.LittleEndian.Uint16(b)))
	case 'J': // BININT
		b, err := vm.read(4)
		if err != nil {
			return err
		}
		vm.push(int64(int32(binary.LittleEndian.Uint32(b))))
	case 0x8a, 0x8b: // LONG1, LONG4
		var n int
		if op == 0x8a {
			b, err := vm.read(1)
			if err != nil {
				return err
			}
			n = int(b[0])
		} else {
			b, err := vm.read(4)
			if err != nil {
				return err
			}
			n = int(int32(binary.LittleEndian.Uint32(b)))
		}
		b, err := vm.read(n)
		if err != nil {
			return err
		}
		v, err := decodeLong(b)
		if err != nil {
			return err
		}
		vm.push(v)
	case 'I', 'L': // INT, LONG (text)
		s, err := vm.readLine()
		if err != nil {
			return err
		}
		s = strings.TrimSuffix(s, "L")
		switch s {
		case "00":
			vm.push(false)
		case "01":
			vm.push(true)
		default:
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return fmt.Errorf("pickle: bad integer %q", s)
			}
			vm.push(v)
		}
	case 'G': // BINFLOAT (big-endian)
		b, err := vm.read(8)
		if err != nil {
			return err
		}
		vm.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case 'F': // FLOAT (text)
		s, err := vm.readLine()
		if err != nil {
			return err
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("pickle: bad float %q", s)
		}
		vm.push(f)
	case 'X', 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
		b, err := vm.readSized(op)
		if err != nil {
			return err
		}
		vm.push(string(b))
	case 'T', 'U', 'B', 'C', 0x8e: // BINSTRING, SHORT_BINSTRING, BINBYTES, SHORT_BINBYTES, BINBYTES8
		b, err := vm.readSized(op)
		if err != nil {
			return err
		}
		if op == 'T' || op == 'U' {
			vm.push(string(b)) // Python 2 str: torch treats these as text
		} else {
			vm.push(append([]byte(nil), b...))
		}
	case 'V': // UNICODE (text, raw-unicode-escape; ASCII in practice)
		s, err := vm.readLine()
		if err != nil {
			return err
		}
		vm.push(s)
	case 'S': // STRING (text, quoted)
		s, err := vm.readLine()
		if err != nil {
			return err
		}
		u, err := strconv.Unquote(s)
		if err != nil {
			u = strings.Trim(s, "'\"")
		}
		vm.push(u)
	case ')': // EMPTY_TUPLE
		vm.push(pyTuple{})
	case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
		n := int(op - 0x84)
		if len(vm.stack) < n {
			return errors.New("pickle: stack underflow")
		}
		t := make(pyTuple, n)
		for i := n - 1; i >= 0; i-- {
			v, err := vm.pop()
			if err != nil {
				return err
			}
			t[i] = v
		}
		vm.push(t)
	case 't': // TUPLE
		items, err := vm.popMark()
		if err != nil {
			return err
		}
		vm.push(pyTuple(items))
	case ']': // EMPTY_LIST
		vm.push(&pyList{})
	case 'l': // LIST
		items, err := vm.popMark()
		if err != nil {
			return err
		}
		vm.push(&pyList{items: items})
	case 'a': // APPEND
		v, err := vm.pop()
		if err != nil {
			return err
		}
		l, err := vm.top()
		if err != nil {
			return err
		}
		pl, ok := l.(*pyList)
		if !ok {
			return fmt.Errorf("pickle: APPEND to %T", l)
		}
		pl.items = append(pl.items, v)
	case 'e': // APPENDS
		items, err := vm.popMark()
		if err != nil {
			return err
		}
		l, err := vm.top()
		if err != nil {
			return err
		}
		pl, ok := l.(*pyList)
		if !ok {
			return fmt.Errorf("pickle: APPENDS to %T", l)
		}
		pl.items = append(pl.items, items...)
	case '}': // EMPTY_DICT
		vm.push(&pyDict{})
	case 'd': // DICT
		items, err := vm.popMark()
		if err != nil {
			return err
		}
		d := &pyDict{}
		if err := setItems(d, items); err != nil {
			return err
		}
		vm.push(d)
	case 's': // SETITEM
		v, err := vm.pop()
		if err != nil {
			return err
		}
		k, err := vm.pop()
		if err != nil {
			return err
		}
		d, err := vm.topDict()
		if err != nil {
			return err
		}
		d.set(k, v)
	case 'u': // SETITEMS
		items, err := vm.popMark()
		if err != nil {
			return err
		}
		d, err := vm.topDict()
		if err != nil {
			return err
		}
		return setItems(d, items)
	case 0x8f: // EMPTY_SET: kept as a list
		vm.push(&pyList{})
	case 0x90: // ADDITEMS
		items, err := vm.popMark()
		if err != nil {
			return err
		}
		l, err := vm.top()
		if err != nil {
			return err
		}
		if pl, ok := l.(*pyList); ok {
			pl.items = append(pl.items, items...)
			return nil
		}
		return fmt.Errorf("pickle: ADDITEMS to %T", l)
	case 0x91: // FROZENSET
		items, err := vm.popMark()
		if err != nil {
			return err
		}
		vm.push(&pyList{items: items})
	case 'c': // GLOBAL
		mod, err := vm.readLine()
		if err != nil {
			return err
		}
		name, err := vm.readLine()
		if err != nil {
			return err
		}
		vm.push(pyGlobal{mod, name})
	case 0x93: // STACK_GLOBAL
		name, err := vm.pop()
		if err != nil {
			return err
		}
		mod, err := vm.pop()
		if err != nil {
			return err
		}
		ms, ok1 := mod.(string)
		ns, ok2 := name.(string)
		if !ok1 || !ok2 {
			return errors.New("pickle: STACK_GLOBAL needs two strings")
		}
		vm.push(pyGlobal{ms, ns})
	case 'R', 0x81: // REDUCE, NEWOBJ
		args, err := vm.pop()
		if err != nil {
			return err
		}
		fn, err := vm.pop()
		if err != nil {
			return err
		}
		t, ok := args.(pyTuple)
		if !ok {
			return fmt.Errorf("pickle: REDUCE arguments are %T, not a tuple", args)
		}
		if g, ok := fn.(pyGlobal); ok && vm.reduce != nil {
			v, known, err := vm.reduce(g, t)
			if err != nil {
				return err
			}
			if known {
				vm.push(v)
				return nil
			}
		}
		vm.push(&pyObject{callable: fn, args: t})
	case 'b': // BUILD
		state, err := vm.pop()
		if err != nil {
			return err
		}
		obj, err := vm.top()
		if err != nil {
			return err
		}
		switch o := obj.(type) {
		case *pyObject:
			o.state = state
		case *pyDict:
			// An OrderedDict with attributes (a state_dict's _metadata):
			// the attributes are not items; drop them.
		}
	case 'Q': // BINPERSID
		pid, err := vm.pop()
		if err != nil {
			return err
		}
		return vm.persist(pid)
	case 'P': // PERSID
		s, err := vm.readLine()
		if err != nil {
			return err
		}
		return vm.persist(s)
	case 'q': // BINPUT
		b, err := vm.read(1)
		if err != nil {
			return err
		}
		v, err := vm.top()
		if err != nil {
			return err
		}
		return vm.memoPut(int(b[0]), v)
	case 'r': // LONG_BINPUT
		b, err := vm.read(4)
		if err != nil {
			return err
		}
		v, err := vm.top()
		if err != nil {
			return err
		}
		return vm.memoPut(int(binary.LittleEndian.Uint32(b)), v)
	case 'p': // PUT
		s, err := vm.readLine()
		if err != nil {
			return err
		}
		i, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("pickle: bad memo index %q", s)
		}
		v, err := vm.top()
		if err != nil {
			return err
		}
		return vm.memoPut(i, v)
	case 0x94: // MEMOIZE
		v, err := vm.top()
		if err != nil {
			return err
		}
		return vm.memoPut(len(vm.memo), v)
	case 'h': // BINGET
		b, err := vm.read(1)
		if err != nil {
			return err
		}
		return vm.memoGet(int(b[0]))
	case 'j': // LONG_BINGET
		b, err := vm.read(4)
		if err != nil {
			return err
		}
		return vm.memoGet(int(binary.LittleEndian.Uint32(b)))
	case 'g': // GET
		s, err := vm.readLine()
		if err != nil {
			return err
		}
		i, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("pickle: bad memo index %q", s)
		}
		return vm.memoGet(i)
	default:
		return fmt.Errorf("pickle: unsupported opcode 0x%02x", op)
	}
	return nil
}

func (vm *pickleVM) readSized(op byte) ([]byte, error) {
	var n uint64
	switch op {
	case 0x8c, 'U', 'C': // 1-byte length
		b, err := vm.read(1)
		if err != nil {
			return nil, err
		}
		n = uint64(b[0])
	case 0x8d, 0x8e: // 8-byte length
		b, err := vm.read(8)
		if err != nil {
			return nil, err
		}
		n = binary.LittleEndian.Uint64(b)
	default: // 4-byte length
		b, err := vm.read(4)
		if err != nil {
			return nil, err
		}
		n = uint64(binary.LittleEndian.Uint32(b))
	}
	if n > uint64(len(vm.data)) {
		return nil, errPickleTruncated
	}
	return vm.read(int(n))
}

func (vm *pickleVM) topDict() (*pyDict, error) {
	v, err := vm.top()
	if err != nil {
		return nil, err
	}
	d, ok := v.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("pickle: SETITEM on %T, not a dict", v)
	}
	return d, nil
}

func setItems(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return errors.New("pickle: odd number of dict items")
	}
	for i := 0; i < len(items); i += 2 {
		d.set(items[i], items[i+1])
	}
	return nil
}

func (vm *pickleVM) persist(pid any) error {
	if vm.persistentLoad == nil {
		return errors.New("pickle: persistent id without a loader")
	}
	v, err := vm.persistentLoad(pid)
	if err != nil {
		return err
	}
	vm.push(v)
	return nil
}

// decodeLong decodes a little-endian two's-complement integer (LONG1/LONG4).
func decodeLong(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if len(b) <= 8 {
		var u uint64
		for i := len(b) - 1; i >= 0; i-- {
			u = u<<8 | uint64(b[i])
		}
		if b[len(b)-1]&0x80 != 0 && len(b) < 8 { // sign-extend
			u |= ^uint64(0) << (8 * len(b))
		}
		return int64(u), nil
	}
	// Wider than 64 bits: only accept it if the value fits.
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if !v.IsInt64() {
		return 0, errors.New("pickle: integer does not fit in 64 bits")
	}
	return v.Int64(), nil
}
