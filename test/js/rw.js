// One read or one save of a notebook with TileDB's own JS client 1.0.8
// (TileDBQuery ReadQuery / WriteQuery over the capnp array protocol), for
// test/jsinterop_test.go to check against the mount.
//
//   BASE=http://127.0.0.1:PORT TOKEN=... NS=alice ARRAY=<name or uuid> FILE=f [OPEN_AT=ms] node rw.js read
//   BASE=... TOKEN=... NS=... ARRAY=... FILE=f node rw.js write
"use strict";

const fs = require("node:fs");
const TileDBClient = require("@tiledb-inc/tiledb-cloud").default;
const { deserializeCapnp, DeserializableType } = require("@tiledb-inc/tiledb-cloud");
const axios = require("axios");

const { BASE, TOKEN, NS, ARRAY, FILE, OPEN_AT } = process.env;
const client = new TileDBClient({ basePath: BASE, apiKey: TOKEN });
axios.defaults.maxBodyLength = Infinity; // axios 0.21 refuses bodies over 10 MB otherwise

// ReadQuery sends no timestamp: add one to its submits, as query.js does,
// to read an old version. (The generated ArrayApi below uses its own axios
// instance; it takes the timestamp as a query option instead.)
if (OPEN_AT) {
  axios.interceptors.request.use((cfg) => {
    if (cfg.url.includes("/query/submit")) {
      cfg.url += (cfg.url.includes("?") ? "&" : "?") + `start_timestamp=0&end_timestamp=${OPEN_AT}`;
    }
    return cfg;
  });
}

async function fileSize() {
  const res = await client.ArrayApi.getArrayMetadataCapnp(NS, ARRAY, {
    headers: { "Content-Type": "application/capnp" },
    responseType: "arraybuffer",
    query: OPEN_AT ? { start_timestamp: 0, end_timestamp: OPEN_AT } : undefined,
  });
  const ab = res.data.buffer.slice(res.data.byteOffset, res.data.byteOffset + res.data.byteLength);
  const md = deserializeCapnp(ab, DeserializableType.arrayMetadata);
  const e = md.entries.find((x) => x.key === "file_size");
  return Number(Buffer.from(e.value).readBigInt64LE(0));
}

async function read() {
  const n = await fileSize();
  const chunks = [];
  if (n > 0) {
    for await (const r of client.query.ReadQuery(NS, ARRAY, {
      layout: "row-major", ranges: [[0, n - 1]], bufferSize: 8 << 20, attributes: ["contents"],
    })) {
      chunks.push(Buffer.from(r.contents));
    }
  }
  fs.writeFileSync(FILE, Buffer.concat(chunks));
}

async function write() {
  const content = fs.readFileSync(FILE);
  await client.query.WriteQuery(NS, ARRAY, {
    layout: "row-major", subarray: [[0, content.length - 1]], values: { contents: { values: content } },
  });
  const size = Buffer.alloc(8);
  size.writeBigInt64LE(BigInt(content.length));
  await client.ArrayApi.updateArrayMetadataCapnp(NS, ARRAY, {
    entries: [
      { key: "file_size", type: "INT64", valueNum: 1, value: [...size], del: false },
      { key: "format", type: "STRING_UTF8", valueNum: 4, value: [...Buffer.from("json")], del: false },
      { key: "type", type: "STRING_UTF8", valueNum: 8, value: [...Buffer.from("notebook")], del: false },
    ],
  }, { headers: { "Content-Type": "application/capnp" } });
}

(process.argv[2] === "write" ? write() : read()).catch((e) => {
  console.error(e.response ? `HTTP ${e.response.status} ${Buffer.from(e.response.data || "").toString()}` : e);
  process.exit(1);
});
