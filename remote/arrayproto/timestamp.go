package arrayproto

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
)

// Latest is the end timestamp meaning "now" (libtiledb sends it for an
// array opened without a timestamp).
const Latest uint64 = math.MaxUint64

// TimeRange is the window, in milliseconds, a request opens the array at:
// fragments and metadata with a timestamp in [Start, End] are visible.
// End == Latest means the server's now.
type TimeRange struct {
	Start, End uint64
}

// IsLatest reports whether the range ends at "now".
func (t TimeRange) IsLatest() bool { return t.End == Latest }

// Resolve returns the end timestamp with Latest replaced by now.
func (t TimeRange) Resolve(now uint64) uint64 {
	if t.IsLatest() {
		return now
	}
	return t.End
}

// Values returns the query parameters start_timestamp and end_timestamp
// for t, as libtiledb sends them.
func (t TimeRange) Values() url.Values {
	return url.Values{
		"start_timestamp": {strconv.FormatUint(t.Start, 10)},
		"end_timestamp":   {strconv.FormatUint(t.End, 10)},
	}
}

// ParseTimeRange reads start_timestamp, end_timestamp and open_at from a
// request's query parameters. Absent or empty parameters default to
// start 0 and end Latest; open_at is a synonym of end_timestamp (pre-2.4
// libtiledb and the spec), and both given with different values is an
// error, as are values that are not decimal uint64 and start > end.
// Errors wrap ErrMalformed.
func ParseTimeRange(q url.Values) (TimeRange, error) {
	t := TimeRange{Start: 0, End: Latest}
	start, hasStart, err := param(q, "start_timestamp")
	if err != nil {
		return TimeRange{}, err
	}
	end, hasEnd, err := param(q, "end_timestamp")
	if err != nil {
		return TimeRange{}, err
	}
	at, hasAt, err := param(q, "open_at")
	if err != nil {
		return TimeRange{}, err
	}
	if hasStart {
		t.Start = start
	}
	switch {
	case hasEnd && hasAt && end != at:
		return TimeRange{}, malformed("end_timestamp %d and open_at %d differ", end, at)
	case hasEnd:
		t.End = end
	case hasAt:
		t.End = at
	}
	if t.Start > t.End {
		return TimeRange{}, malformed("start_timestamp %d after end_timestamp %d", t.Start, t.End)
	}
	return t, nil
}

func param(q url.Values, name string) (v uint64, ok bool, err error) {
	vs, present := q[name]
	if !present || len(vs) == 0 || vs[0] == "" {
		return 0, false, nil
	}
	if len(vs) > 1 {
		return 0, false, malformed("%s given %d times", name, len(vs))
	}
	v, err = strconv.ParseUint(vs[0], 10, 64)
	if err != nil {
		return 0, false, malformed("%s=%q is not a timestamp in ms", name, vs[0])
	}
	return v, true, nil
}

// String formats t for logs.
func (t TimeRange) String() string {
	if t.IsLatest() {
		return fmt.Sprintf("[%d, latest]", t.Start)
	}
	return fmt.Sprintf("[%d, %d]", t.Start, t.End)
}
