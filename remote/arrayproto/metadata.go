package arrayproto

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"notebookfs/remote/arrayproto/rest"
)

// Metadata keys and values of a notebook array.
const (
	KeyFileSize = "file_size"
	KeyType     = "type"
	KeyFormat   = "format"

	NotebookType   = "notebook"
	NotebookFormat = "json"
)

// MetadataEntry is one ArrayMetadata entry:
// Value holds ValueNum values of the TileDB datatype Type, little-endian.
// Del marks a deletion of Key.
type MetadataEntry struct {
	Key      string
	Type     string
	ValueNum uint32
	Value    []byte
	Del      bool
}

// datatypeSize is the byte size of one value of each TileDB datatype
// (tiledb/sm/enums/datatype.h).
var datatypeSize = map[string]uint64{
	"INT8": 1, "UINT8": 1, "INT16": 2, "UINT16": 2, "INT32": 4, "UINT32": 4,
	"INT64": 8, "UINT64": 8, "FLOAT32": 4, "FLOAT64": 8,
	"CHAR": 1, "STRING_ASCII": 1, "STRING_UTF8": 1, "STRING_UTF16": 2,
	"STRING_UTF32": 4, "STRING_UCS2": 2, "STRING_UCS4": 4,
	"ANY": 1, "BLOB": 1, "BOOL": 1, "GEOM_WKB": 1, "GEOM_WKT": 1,
	"DATETIME_YEAR": 8, "DATETIME_MONTH": 8, "DATETIME_WEEK": 8, "DATETIME_DAY": 8,
	"DATETIME_HR": 8, "DATETIME_MIN": 8, "DATETIME_SEC": 8, "DATETIME_MS": 8,
	"DATETIME_US": 8, "DATETIME_NS": 8, "DATETIME_PS": 8, "DATETIME_FS": 8,
	"DATETIME_AS": 8, "TIME_HR": 8, "TIME_MIN": 8, "TIME_SEC": 8, "TIME_MS": 8,
	"TIME_US": 8, "TIME_NS": 8, "TIME_PS": 8, "TIME_FS": 8, "TIME_AS": 8,
}

// Validate checks e as libtiledb does when it deserializes metadata: a
// known type, and, unless e is a deletion, len(Value) = size(Type) ×
// ValueNum. The key must not be empty.
func (e MetadataEntry) Validate() error {
	if e.Key == "" {
		return malformed("metadata entry with an empty key")
	}
	size, ok := datatypeSize[e.Type]
	if !ok {
		return unsupported("metadata %q of unknown type %q", e.Key, e.Type)
	}
	if !e.Del && uint64(len(e.Value)) != size*uint64(e.ValueNum) {
		return malformed("metadata %q: %d bytes for %d values of %s", e.Key, len(e.Value), e.ValueNum, e.Type)
	}
	return nil
}

// Int64Entry returns an INT64 entry, what TileDB-Py writes for a Python
// int such as file_size.
func Int64Entry(key string, v int64) MetadataEntry {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, uint64(v))
	return MetadataEntry{Key: key, Type: "INT64", ValueNum: 1, Value: b}
}

// StringEntry returns a STRING_UTF8 entry (ValueNum = byte length, no NUL),
// what TileDB-Py writes for a Python str.
func StringEntry(key, v string) MetadataEntry {
	return MetadataEntry{Key: key, Type: "STRING_UTF8", ValueNum: uint32(len(v)), Value: []byte(v)}
}

// DeleteEntry returns the entry that deletes key, as libtiledb serializes
// it (type INT32, no value).
func DeleteEntry(key string) MetadataEntry {
	return MetadataEntry{Key: key, Type: "INT32", Del: true}
}

// NotebookMetadata returns the entries a save posts: file_size (INT64),
// format "json" and type "notebook" (STRING_UTF8), sorted by key.
func NotebookMetadata(fileSize int64) []MetadataEntry {
	return []MetadataEntry{
		Int64Entry(KeyFileSize, fileSize),
		StringEntry(KeyFormat, NotebookFormat),
		StringEntry(KeyType, NotebookType),
	}
}

// Int64 returns the value of a single-valued integer entry: INT64, UINT64
// (up to MaxInt64), INT32, UINT32, INT16, UINT16, INT8 or UINT8.
func (e MetadataEntry) Int64() (int64, error) {
	if e.Del {
		return 0, fmt.Errorf("arrayproto: metadata %q is a deletion", e.Key)
	}
	if e.ValueNum != 1 {
		return 0, fmt.Errorf("arrayproto: metadata %q has %d values, want 1", e.Key, e.ValueNum)
	}
	size, signed, ok := intType(e.Type)
	if !ok {
		return 0, fmt.Errorf("arrayproto: metadata %q of type %s is not an integer", e.Key, e.Type)
	}
	if uint64(len(e.Value)) != size {
		return 0, fmt.Errorf("arrayproto: metadata %q: %d bytes for one %s", e.Key, len(e.Value), e.Type)
	}
	v := readUint(e.Value)
	if signed {
		return signExtend(v, size), nil
	}
	if v > math.MaxInt64 {
		return 0, fmt.Errorf("arrayproto: metadata %q: %d overflows int64", e.Key, v)
	}
	return int64(v), nil
}

// Text returns the value of a string entry: STRING_UTF8, STRING_ASCII or
// CHAR (a trailing NUL, if any, is dropped). It must be valid UTF-8.
func (e MetadataEntry) Text() (string, error) {
	if e.Del {
		return "", fmt.Errorf("arrayproto: metadata %q is a deletion", e.Key)
	}
	switch e.Type {
	case "STRING_UTF8", "STRING_ASCII", "CHAR":
	default:
		return "", fmt.Errorf("arrayproto: metadata %q of type %s is not a string", e.Key, e.Type)
	}
	if uint64(len(e.Value)) != uint64(e.ValueNum) {
		return "", fmt.Errorf("arrayproto: metadata %q: %d bytes for %d characters", e.Key, len(e.Value), e.ValueNum)
	}
	s := strings.TrimSuffix(string(e.Value), "\x00")
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("arrayproto: metadata %q is not valid UTF-8", e.Key)
	}
	return s, nil
}

// JSONValue returns the value as metadata_json shows it: a string for
// string types, a number for one numeric value, a list of numbers for
// several. Other types (BLOB, BOOL, ANY, geometries, wide strings) are
// ErrUnsupported.
func (e MetadataEntry) JSONValue() (any, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if e.Del {
		return nil, fmt.Errorf("arrayproto: metadata %q is a deletion", e.Key)
	}
	switch e.Type {
	case "STRING_UTF8", "STRING_ASCII", "CHAR":
		return e.Text()
	}
	size := datatypeSize[e.Type]
	var conv func([]byte) any
	if isize, signed, ok := intType(e.Type); ok {
		conv = func(b []byte) any {
			if signed {
				return signExtend(readUint(b), isize)
			}
			return readUint(b)
		}
	} else if e.Type == "FLOAT32" {
		conv = func(b []byte) any { return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))) }
	} else if e.Type == "FLOAT64" {
		conv = func(b []byte) any { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }
	} else {
		return nil, unsupported("metadata %q of type %s has no JSON form", e.Key, e.Type)
	}
	if e.ValueNum == 1 {
		return conv(e.Value), nil
	}
	vs := make([]any, 0, e.ValueNum)
	for i := uint64(0); i < uint64(e.ValueNum); i++ {
		vs = append(vs, conv(e.Value[i*size:(i+1)*size]))
	}
	return vs, nil
}

// intType reports the size and signedness of integer (and datetime)
// types.
func intType(t string) (size uint64, signed, ok bool) {
	switch t {
	case "INT8", "INT16", "INT32", "INT64":
		return datatypeSize[t], true, true
	case "UINT8", "UINT16", "UINT32", "UINT64":
		return datatypeSize[t], false, true
	}
	if strings.HasPrefix(t, "DATETIME_") || strings.HasPrefix(t, "TIME_") {
		return 8, true, datatypeSize[t] == 8
	}
	return 0, false, false
}

func readUint(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func signExtend(v, size uint64) int64 {
	shift := 64 - 8*size
	return int64(v<<shift) >> shift
}

// Metadata is the folded metadata of an array: key -> live entry.
type Metadata map[string]MetadataEntry

// Apply folds one metadata write into m, in order: a put replaces the key,
// a deletion removes it.
func (m Metadata) Apply(entries []MetadataEntry) {
	for _, e := range entries {
		if e.Del {
			delete(m, e.Key)
			continue
		}
		m[e.Key] = e
	}
}

// Entries returns the entries of m sorted by key.
func (m Metadata) Entries() []MetadataEntry {
	out := make([]MetadataEntry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// FileSize returns file_size: ok is false if the key is absent; a negative
// or non-integer value is an error.
func (m Metadata) FileSize() (size int64, ok bool, err error) {
	e, ok := m[KeyFileSize]
	if !ok {
		return 0, false, nil
	}
	size, err = e.Int64()
	if err == nil && size < 0 {
		err = fmt.Errorf("arrayproto: negative %s %d", KeyFileSize, size)
	}
	return size, true, err
}

// EncodeArrayMetadata writes entries as a bare framed capnp ArrayMetadata:
// the body of POST …/array_metadata and the reply to its GET. Each entry
// must pass Validate.
func EncodeArrayMetadata(w io.Writer, entries []MetadataEntry) error {
	for _, e := range entries {
		if err := e.Validate(); err != nil {
			return err
		}
	}
	msg, seg := newMessage()
	var e errs
	am, err := rest.NewRootArrayMetadata(seg)
	e.do(err)
	if err == nil {
		list, err := am.NewEntries(int32(len(entries)))
		e.do(err)
		for i := 0; err == nil && i < len(entries); i++ {
			x, me := entries[i], list.At(i)
			e.do(me.SetKey(x.Key))
			e.do(me.SetType(x.Type))
			me.SetValueNum(x.ValueNum)
			e.do(me.SetValue(x.Value))
			me.SetDel(x.Del)
		}
	}
	if e.err != nil {
		return e.err
	}
	b, err := marshal(msg)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// DecodeArrayMetadata reads a bare framed capnp ArrayMetadata of at most
// limit bytes, consuming exactly its bytes. Every entry must pass
// Validate. A message without entries decodes to none.
func DecodeArrayMetadata(r io.Reader, limit int64) (entries []MetadataEntry, err error) {
	defer guard(&err)
	raw, msg, err := readMessage(r, limit)
	if err != nil {
		return nil, err
	}
	root, err := rootStruct(msg)
	if err != nil {
		return nil, err
	}
	am := rest.ArrayMetadata(root)
	if !am.HasEntries() {
		return nil, nil
	}
	list, err := am.Entries()
	if err != nil {
		return nil, malformed("metadata entries: %v", err)
	}
	// A real entry takes at least 4 words; a list longer than the message
	// has room for is made of empty structs.
	if list.Len() > len(raw)/32 {
		return nil, malformed("%d metadata entries in %d bytes", list.Len(), len(raw))
	}
	entries = make([]MetadataEntry, 0, list.Len())
	for i := 0; i < list.Len(); i++ {
		me := list.At(i)
		var x MetadataEntry
		if x.Key, err = me.Key(); err != nil {
			return nil, malformed("metadata key: %v", err)
		}
		if x.Type, err = me.Type(); err != nil {
			return nil, malformed("metadata type: %v", err)
		}
		x.ValueNum = me.ValueNum()
		v, err := me.Value()
		if err != nil {
			return nil, malformed("metadata value: %v", err)
		}
		x.Value = append([]byte(nil), v...)
		x.Del = me.Del()
		if err := x.Validate(); err != nil {
			return nil, err
		}
		entries = append(entries, x)
	}
	return entries, nil
}
