// Saves and reads a notebook through `notebookfs serve` with TileDB's own JS
// client, @tiledb-inc/tiledb-cloud 1.0.8: TileDBQuery.WriteQuery and
// ReadQuery over the capnp array protocol,
// plus its array metadata calls and downloadNotebookContents. One line per
// check on stdout ("ok - ..." or "FAIL - ..."); exits 1 on the first
// failure. remote/server/js_query_test.go runs it; by hand:
//
//   cd test/js && npm ci
//   PORT=8181 TOKEN=... NAMESPACE=alice NOTEBOOK=nb SMALL_FILE=small.ipynb \
//     BIG_FILE=big.ipynb ASCII_FILE=ascii.ipynb OTHER_TOKEN=... node query.js
//
// Env: PORT (the server, on 127.0.0.1), TOKEN (a token of the user whose
// namespace is NAMESPACE), NOTEBOOK (the name of an existing notebook there;
// it gets three new versions: SMALL_FILE, BIG_FILE, ASCII_FILE, in that
// order), OTHER_TOKEN (a user with a read-only share of it).
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const TileDBClient = require("@tiledb-inc/tiledb-cloud").default;
const { v1, deserializeCapnp, DeserializableType } = require("@tiledb-inc/tiledb-cloud");
const axios = require("axios");

function env(name) {
  const v = process.env[name];
  if (!v) {
    console.log(`FAIL - environment: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const base = `http://127.0.0.1:${env("PORT")}`;
const ns = env("NAMESPACE");
const nbName = env("NOTEBOOK");
const small = fs.readFileSync(env("SMALL_FILE"));
const big = fs.readFileSync(env("BIG_FILE"));
const ascii = fs.readFileSync(env("ASCII_FILE"));

// basePath without a version: TileDBClient appends /v1 and /v2; its
// `query` is a TileDBQuery on /v2 (and /v1 for the schema).
const client = new TileDBClient({ basePath: base, apiKey: env("TOKEN") });
const other = new TileDBClient({ basePath: base, apiKey: env("OTHER_TOKEN") });
const notebooksApi = new v1.NotebooksApi(client.config);

// axios 0.21 (through follow-redirects) refuses request bodies over 10 MB
// by default: a WriteQuery of a larger notebook fails in the client with
// ERR_FR_MAX_BODY_LENGTH_EXCEEDED unless the limit is lifted. TileDBQuery
// uses the global axios instance, so its defaults apply.
axios.defaults.maxBodyLength = Infinity;

// ReadQuery never sends a timestamp; to read an old version this
// interceptor adds one to its query/submit requests (the first and every
// INCOMPLETE continuation) while `timeTravel` is set.
let timeTravel = "";
axios.interceptors.request.use((cfg) => {
  if (timeTravel && cfg.url.includes("/query/submit")) {
    cfg.url += (cfg.url.includes("?") ? "&" : "?") + timeTravel;
  }
  return cfg;
});

let checks = 0;
async function check(name, fn) {
  const start = Date.now();
  try {
    await fn();
    checks++;
    console.log(`ok - ${name} (${Date.now() - start} ms)`);
  } catch (e) {
    const detail = e.response ? `HTTP ${e.response.status} ${Buffer.from(e.response.data || "").toString()}` : "";
    console.log(`FAIL - ${name}: ${e.message} ${detail}`);
    if (e.stack) console.error(e.stack);
    process.exit(1);
  }
}

async function write(c, content) {
  return c.query.WriteQuery(ns, nbName, {
    layout: "row-major",
    subarray: [[0, content.length - 1]],
    values: { contents: { values: content } },
  });
}

// read runs ReadQuery over cells [0, n-1] with a buffer of bufferSize bytes
// and returns the bytes and the number of chunks it yielded.
async function read(c, n, bufferSize) {
  const chunks = [];
  for await (const r of c.query.ReadQuery(ns, nbName, {
    layout: "row-major",
    ranges: [[0, n - 1]],
    bufferSize,
    attributes: ["contents"],
  })) {
    chunks.push(Buffer.from(r.contents));
  }
  return { data: Buffer.concat(chunks), chunks: chunks.length };
}

async function versions() {
  return (await notebooksApi.notebooksNamespaceArrayEndTimestampsGet(ns, nbName, 1, 1000)).data.end_timestamps;
}

function fileSizeOf(md) {
  const e = md.entries.find((x) => x.key === "file_size");
  assert.ok(e, "file_size entry");
  assert.equal(e.type, "INT64");
  return Number(Buffer.from(e.value).readBigInt64LE(0));
}

async function getMetadata(query) {
  const res = await client.ArrayApi.getArrayMetadataCapnp(ns, nbName, {
    headers: { "Content-Type": "application/capnp" },
    responseType: "arraybuffer",
    query,
  });
  const ab = res.data.buffer.slice(res.data.byteOffset, res.data.byteOffset + res.data.byteLength);
  return deserializeCapnp(ab, DeserializableType.arrayMetadata);
}

(async () => {
  const before = (await versions()).length;
  let smallTs;

  await check(`WriteQuery saves ${small.length} bytes of UTF-8 (emoji) as a new version`, async () => {
    const res = await write(client, small);
    assert.equal(res.status, "COMPLETED");
    const vs = await versions();
    assert.equal(vs.length, before + 1);
    smallTs = vs[vs.length - 1];
    assert.equal(res.array.endTimestamp, smallTs, "the reply carries the version's timestamp");
  });

  await check("ReadQuery reads it back exactly, in one reply", async () => {
    const { data, chunks } = await read(client, small.length, small.length);
    assert.ok(data.equals(small), `read ${data.toString()}`);
    assert.equal(chunks, 1);
  });

  await check("ReadQuery with a 100-byte buffer follows INCOMPLETE replies", async () => {
    const { data, chunks } = await read(client, small.length, 100);
    assert.ok(data.equals(small));
    assert.equal(chunks, Math.ceil(small.length / 100));
  });

  await check("updateArrayMetadataCapnp posts the save's metadata; getArrayMetadataCapnp and metadata_json agree", async () => {
    const size = Buffer.alloc(8);
    size.writeBigInt64LE(BigInt(small.length));
    const res = await client.ArrayApi.updateArrayMetadataCapnp(ns, nbName, {
      entries: [
        { key: "file_size", type: "INT64", valueNum: 1, value: [...size], del: false },
        { key: "format", type: "STRING_UTF8", valueNum: 4, value: [...Buffer.from("json")], del: false },
        { key: "type", type: "STRING_UTF8", valueNum: 8, value: [...Buffer.from("notebook")], del: false },
      ],
    }, { headers: { "Content-Type": "application/capnp" } });
    assert.equal(res.status, 200);
    assert.equal(fileSizeOf(await getMetadata()), small.length);
    const json = (await client.ArrayApi.getArrayMetaDataJson(ns, nbName)).data;
    assert.equal(json.file_size, small.length);
  });

  await check("a wrong file_size is refused with 409", async () => {
    const size = Buffer.alloc(8);
    size.writeBigInt64LE(BigInt(small.length + 1));
    try {
      await client.ArrayApi.updateArrayMetadataCapnp(ns, nbName, {
        entries: [{ key: "file_size", type: "INT64", valueNum: 1, value: [...size], del: false }],
      }, { headers: { "Content-Type": "application/capnp" } });
      assert.fail("accepted");
    } catch (e) {
      if (!e.response) throw e;
      assert.equal(e.response.status, 409);
    }
  });

  await check(`WriteQuery and ReadQuery of a ${big.length}-byte notebook`, async () => {
    const res = await write(client, big);
    assert.equal(res.status, "COMPLETED");
    const { data, chunks } = await read(client, big.length, big.length);
    assert.equal(chunks, 1);
    assert.ok(data.equals(big), "big notebook read back differs");
  });

  await check("the big notebook again with a 4 MiB buffer (INCOMPLETE continuations)", async () => {
    const { data, chunks } = await read(client, big.length, 4 << 20);
    assert.equal(chunks, Math.ceil(big.length / (4 << 20)));
    assert.ok(data.equals(big), "big notebook read back by 4 MiB differs");
    assert.equal(fileSizeOf(await getMetadata()), big.length);
  });

  await check("ReadQuery at the old version (open_at, then end_timestamp) reads the small notebook", async () => {
    for (const tt of [`open_at=${smallTs}`, `start_timestamp=0&end_timestamp=${smallTs}`]) {
      timeTravel = tt;
      try {
        const { data, chunks } = await read(client, small.length, 64);
        assert.ok(data.equals(small), `${tt}: ${data.toString()}`);
        assert.equal(chunks, Math.ceil(small.length / 64));
      } finally {
        timeTravel = "";
      }
    }
    assert.equal(fileSizeOf(await getMetadata({ end_timestamp: smallTs })), small.length);
    assert.equal(fileSizeOf(await getMetadata({ start_timestamp: 0, end_timestamp: smallTs + 1 })), small.length);
  });

  await check("downloadNotebookContents over-reads one cell ([0, file_size]) and gets the fill value, not a stale byte", async () => {
    await write(client, ascii);
    const text = await client.downloadNotebookContents(ns, nbName);
    // The client strips what is not printable ASCII: the extra cell (255)
    // and the newlines. A stale byte of the longer previous version would
    // be printable and stay.
    assert.equal(text, ascii.toString().replace(/[^\x20-\x7E]/g, ""));
  });

  await check("a user with a read-only share reads but cannot write (403)", async () => {
    const { data } = await read(other, ascii.length, ascii.length);
    assert.ok(data.equals(ascii));
    try {
      await write(other, Buffer.from("{}"));
      assert.fail("the write was accepted");
    } catch (e) {
      // WriteQuery turns the Error body into the message.
      const body = JSON.parse(e.message);
      assert.equal(body.code, 4003, e.message);
    }
    assert.equal((await versions()).length, before + 3);
  });

  console.log(`${checks} checks passed`);
})();
