package arrayproto

import (
	"encoding/json"
	"io"

	capnp "capnproto.org/go/capnp/v3"

	"notebookfs/remote/arrayproto/rest"
)

// The notebook array as TileDB Cloud stores a notebook: dense, 1-D,
// dimension position (UINT64), attribute contents (UINT8).
const (
	DimensionName = "position"
	AttributeName = "contents"
	// DomainMax is the upper bound of the position domain, 2^64-1-1025.
	DomainMax uint64 = 18446744073709550590
	// TileExtent is the tile extent of position.
	TileExtent uint64 = 1024
	// FillValue is what a cell no fragment covers reads as.
	FillValue byte = 255
	// Capacity is the schema capacity (TileDB's default; unused by dense
	// arrays).
	Capacity uint64 = 10000
	// ZstdLevel is the level of the Zstd filter on position and contents
	// (TileDB's default level).
	ZstdLevel int32 = -1
)

// NewNotebookSchema builds the notebook array's capnp ArraySchema in seg,
// as libtiledb's array_schema_to_capnp lays it out (the server side, so
// without uri): type dense, row-major orders, capacity, empty coordinate,
// offset and validity filter pipelines, the domain and the attribute. The
// format version list is left out, so that libtiledb assumes its own.
func NewNotebookSchema(seg *capnp.Segment) (rest.ArraySchema, error) {
	var e errs
	s, err := rest.NewArraySchema(seg)
	if err != nil {
		return rest.ArraySchema{}, err
	}
	fillNotebookSchema(s, &e)
	return s, e.err
}

func fillNotebookSchema(s rest.ArraySchema, e *errs) {
	e.do(s.SetArrayType("dense"))
	e.do(s.SetTileOrder(LayoutRowMajor))
	e.do(s.SetCellOrder(LayoutRowMajor))
	s.SetCapacity(Capacity)
	s.SetAllowsDuplicates(false)
	_, err := s.NewCoordsFilterPipeline()
	e.do(err)
	_, err = s.NewOffsetFilterPipeline()
	e.do(err)
	_, err = s.NewValidityFilterPipeline()
	e.do(err)

	d, err := s.NewDomain()
	e.do(err)
	if err == nil {
		e.do(d.SetType("UINT64"))
		e.do(d.SetTileOrder(LayoutRowMajor))
		e.do(d.SetCellOrder(LayoutRowMajor))
		dims, err := d.NewDimensions(1)
		e.do(err)
		if err == nil {
			dim := dims.At(0)
			e.do(dim.SetName(DimensionName))
			e.do(dim.SetType("UINT64"))
			dim.SetNullTileExtent(false)
			dim.TileExtent().SetUint64(TileExtent)
			da, err := dim.NewDomain()
			e.do(err)
			if err == nil {
				u, err := da.NewUint64(2)
				e.do(err)
				if err == nil {
					u.Set(0, 0)
					u.Set(1, DomainMax)
				}
			}
			fp, err := dim.NewFilterPipeline()
			e.do(err)
			if err == nil {
				e.do(setZstd(fp))
			}
		}
	}

	as, err := s.NewAttributes(1)
	e.do(err)
	if err == nil {
		a := as.At(0)
		a.SetCellValNum(1)
		e.do(a.SetName(AttributeName))
		e.do(a.SetType("UINT8"))
		a.SetNullable(false)
		e.do(a.SetFillValue([]byte{FillValue}))
		a.SetFillValueValidity(false)
		fp, err := a.NewFilterPipeline()
		e.do(err)
		if err == nil {
			e.do(setZstd(fp))
		}
	}
}

// setZstd sets a pipeline of one Zstd filter. libtiledb names filters in
// capnp without the FILTER_ prefix ("ZSTD") and keeps the level in
// data.int32.
func setZstd(fp rest.FilterPipeline) error {
	fs, err := fp.NewFilters(1)
	if err != nil {
		return err
	}
	f := fs.At(0)
	f.Data().SetInt32(ZstdLevel)
	return f.SetType("ZSTD")
}

// EncodeNotebookSchema writes the notebook array's schema as a bare framed
// capnp ArraySchema: the reply to GET /v1/arrays/{ns}/{array} with
// Content-Type application/capnp (libtiledb's legacy array open).
func EncodeNotebookSchema(w io.Writer) error {
	msg, seg := newMessage()
	var e errs
	s, err := rest.NewRootArraySchema(seg)
	e.do(err)
	if err == nil {
		fillNotebookSchema(s, &e)
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

// The JSON form follows the REST API's ArraySchema. TileDB's JS client
// reads only domain.dimensions[i].{name,type,domain} and
// attributes[i].{name,type,cellValNum,nullable}.
type (
	jsonSchema struct {
		ArrayType            string       `json:"arrayType"`
		Attributes           []jsonAttr   `json:"attributes"`
		Capacity             uint64       `json:"capacity"`
		CellOrder            string       `json:"cellOrder"`
		CoordsFilterPipeline jsonPipeline `json:"coordsFilterPipeline"`
		Domain               jsonDomain   `json:"domain"`
		OffsetFilterPipeline jsonPipeline `json:"offsetFilterPipeline"`
		TileOrder            string       `json:"tileOrder"`
		Version              []int32      `json:"version"`
		AllowsDuplicates     bool         `json:"allowsDuplicates"`
	}
	jsonAttr struct {
		CellValNum     uint32       `json:"cellValNum"`
		FillValue      byteList     `json:"fillValue"`
		FilterPipeline jsonPipeline `json:"filterPipeline"`
		Name           string       `json:"name"`
		Nullable       bool         `json:"nullable"`
		Type           string       `json:"type"`
	}
	jsonDomain struct {
		CellOrder  string    `json:"cellOrder"`
		Dimensions []jsonDim `json:"dimensions"`
		TileOrder  string    `json:"tileOrder"`
		Type       string    `json:"type"`
	}
	jsonDim struct {
		Domain         map[string][]uint64 `json:"domain"`
		FilterPipeline jsonPipeline        `json:"filterPipeline"`
		Name           string              `json:"name"`
		NullTileExtent bool                `json:"nullTileExtent"`
		TileExtent     map[string]uint64   `json:"tileExtent"`
		Type           string              `json:"type"`
	}
	jsonPipeline struct {
		Filters []jsonFilter `json:"filters,omitempty"`
	}
	jsonFilter struct {
		Type string           `json:"type"`
		Data map[string]int32 `json:"data"`
	}
	byteList []uint8
)

// MarshalJSON writes a byte list as JSON numbers, not base64.
func (b byteList) MarshalJSON() ([]byte, error) {
	v := make([]int, len(b))
	for i, x := range b {
		v[i] = int(x)
	}
	return json.Marshal(v)
}

// NotebookSchemaJSON returns the notebook array's schema as JSON: the reply
// to GET /v1/arrays/{ns}/{array} with Content-Type application/json. The
// domain bound 18446744073709550590 is written exactly, as an integer (a
// JavaScript reader rounds it; a Go reader should decode it with
// json.Number or into a uint64). Filters use the REST API's names
// (FILTER_ZSTD); version is [FormatVersion] (the API requires it, no
// client uses it).
func NotebookSchemaJSON() []byte {
	zstd := jsonPipeline{Filters: []jsonFilter{{Type: "FILTER_ZSTD", Data: map[string]int32{"int32": ZstdLevel}}}}
	s := jsonSchema{
		ArrayType:            "dense",
		Capacity:             Capacity,
		CellOrder:            LayoutRowMajor,
		TileOrder:            LayoutRowMajor,
		Version:              []int32{FormatVersion},
		CoordsFilterPipeline: jsonPipeline{},
		OffsetFilterPipeline: jsonPipeline{},
		Domain: jsonDomain{
			CellOrder: LayoutRowMajor,
			TileOrder: LayoutRowMajor,
			Type:      "UINT64",
			Dimensions: []jsonDim{{
				Name:           DimensionName,
				Type:           "UINT64",
				Domain:         map[string][]uint64{"uint64": {0, DomainMax}},
				NullTileExtent: false,
				TileExtent:     map[string]uint64{"uint64": TileExtent},
				FilterPipeline: zstd,
			}},
		},
		Attributes: []jsonAttr{{
			Name:           AttributeName,
			Type:           "UINT8",
			CellValNum:     1,
			Nullable:       false,
			FillValue:      byteList{FillValue},
			FilterPipeline: zstd,
		}},
	}
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // static data
	}
	return b
}
