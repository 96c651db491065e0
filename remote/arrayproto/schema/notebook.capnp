# notebook.capnp: the subset of TileDB's tiledb-rest.capnp that notebookfs
# speaks (TileDB-Inc/TileDB tiledb/sm/serialization/tiledb-rest.capnp).
#
# The wire layout of a struct depends only on its fields' ordinals and types,
# so every field here has the ordinal and type it has upstream. Rules:
#   - fields after the last one we use are left out;
#   - every ordinal below the last one used is present;
#   - a pointer field we never read or write is declared AnyPointer (same
#     layout as any struct, list, Text or Data pointer);
#   - unions are declared with all their members, as upstream.
# Only the struct names and this file's id differ from upstream; neither is on
# the wire. Do not renumber. Regenerate with `bash remote/arrayproto/gen.sh`.
@0xcbeac41932b709dd;

using Go = import "/go.capnp";
$Go.package("rest");
$Go.import("notebookfs/remote/arrayproto/rest");

struct DomainArray {
  int8 @0 :List(Int8);
  uint8 @1 :List(UInt8);
  int16 @2 :List(Int16);
  uint16 @3 :List(UInt16);
  int32 @4 :List(Int32);
  uint32 @5 :List(UInt32);
  int64 @6 :List(Int64);
  uint64 @7 :List(UInt64);
  float32 @8 :List(Float32);
  float64 @9 :List(Float64);
}

struct Array {
  endTimestamp @0 :UInt64;
  queryType @1 :Text;
  uri @2 :Text;
  startTimestamp @3 :UInt64;
  arraySchemaLatest @4 :ArraySchema;
  arraySchemasAll @5 :AnyPointer;       # Map(Text, ArraySchema)
  nonEmptyDomain @6 :AnyPointer;        # NonEmptyDomainList
  arrayMetadata @7 :ArrayMetadata;
  arrayDirectory @8 :AnyPointer;        # ArrayDirectory
  fragmentMetadataAll @9 :AnyPointer;   # List(FragmentMetadata)
  openedAtEndTimestamp @10 :UInt64;
}

struct ArraySchema {
  arrayType @0 :Text;
  attributes @1 :List(Attribute);
  capacity @2 :UInt64;
  cellOrder @3 :Text;
  coordsFilterPipeline @4 :FilterPipeline;
  domain @5 :Domain;
  offsetFilterPipeline @6 :FilterPipeline;
  tileOrder @7 :Text;
  uri @8 :Text;
  version @9 :List(Int32);
  allowsDuplicates @10 :Bool;
  validityFilterPipeline @11 :FilterPipeline;
  name @12 :Text;
  timestampRange @13 :List(UInt64);
}

struct Attribute {
  cellValNum @0 :UInt32;
  name @1 :Text;
  type @2 :Text;
  filterPipeline @3 :FilterPipeline;
  fillValue @4 :Data;
  nullable @5 :Bool;
  fillValueValidity @6 :Bool;
}

struct AttributeBufferHeader {
  name @0 :Text;
  fixedLenBufferSizeInBytes @1 :UInt64;
  varLenBufferSizeInBytes @2 :UInt64;
  validityLenBufferSizeInBytes @3 :UInt64;
  originalFixedLenBufferSizeInBytes @4 :UInt64;
  originalVarLenBufferSizeInBytes @5 :UInt64;
  originalValidityLenBufferSizeInBytes @6 :UInt64;
}

struct Dimension {
  name @0 :Text;
  nullTileExtent @1 :Bool;
  type @2 :Text;
  tileExtent :union {
    int8 @3 :Int8;
    uint8 @4 :UInt8;
    int16 @5 :Int16;
    uint16 @6 :UInt16;
    int32 @7 :Int32;
    uint32 @8 :UInt32;
    int64 @9 :Int64;
    uint64 @10 :UInt64;
    float32 @11 :Float32;
    float64 @12 :Float64;
  }
  domain @13 :DomainArray;
  filterPipeline @14 :FilterPipeline;
}

struct Domain {
  cellOrder @0 :Text;
  dimensions @1 :List(Dimension);
  tileOrder @2 :Text;
  type @3 :Text;
}

struct Filter {
  type @0 :Text;
  data :union {
    text @1 :Text;
    bytes @2 :Data;
    int8 @3 :Int8;
    uint8 @4 :UInt8;
    int16 @5 :Int16;
    uint16 @6 :UInt16;
    int32 @7 :Int32;
    uint32 @8 :UInt32;
    int64 @9 :Int64;
    uint64 @10 :UInt64;
    float32 @11 :Float32;
    float64 @12 :Float64;
  }
}

struct FilterPipeline {
  filters @0 :List(Filter);
}

struct Writer {
  checkCoordDups @0 :Bool;
  checkCoordOOB @1 :Bool;
  dedupCoords @2 :Bool;
  subarray @3 :DomainArray;        # old-style single range (JS sets it)
  subarrayRanges @4 :Subarray;     # new-style ranges (JS and libtiledb)
}

struct SubarrayRanges {
  type @0 :Text;
  hasDefaultRange @1 :Bool;
  buffer @2 :Data;
  bufferSizes @3 :List(UInt64);
  bufferStartSizes @4 :List(UInt64);
}

struct Subarray {
  layout @0 :Text;
  ranges @1 :List(SubarrayRanges);
}

struct ReadState {
  overflowed @0 :Bool;
  unsplittable @1 :Bool;
  initialized @2 :Bool;
}

struct QueryReader {
  layout @0 :Text;
  subarray @1 :Subarray;
  readState @2 :ReadState;
}

struct Query {
  attributeBufferHeaders @0 :List(AttributeBufferHeader);
  layout @1 :Text;
  status @2 :Text;
  type @3 :Text;
  writer @4 :Writer;
  reader @5 :QueryReader;              # legacy slot; TileDB's JS client uses it
  array @6 :Array;
  totalFixedLengthBufferBytes @7 :UInt64;
  totalVarLenBufferBytes @8 :UInt64;
  totalValidityBufferBytes @9 :UInt64;
  varOffsetsMode @10 :Text;
  varOffsetsAddExtraElement @11 :Bool;
  varOffsetsBitsize @12 :Int32;
  config @13 :AnyPointer;              # Config
  stats @14 :AnyPointer;               # Stats
  readerIndex @15 :AnyPointer;         # ReaderIndex
  denseReader @16 :QueryReader;        # libtiledb's dense reader slot
  delete @17 :AnyPointer;              # Delete
  writtenFragmentInfo @18 :List(WrittenFragmentInfo);
}

struct WrittenFragmentInfo {
  uri @0 :Text;
  timestampRange @1 :List(UInt64);
}

struct ArrayMetadata {
  struct MetadataEntry {
    key @0 :Text;
    type @1 :Text;
    valueNum @2 :UInt32;
    value @3 :Data;
    del @4 :Bool;
  }
  entries @0 :List(MetadataEntry);
}
