// interop.js BASE_URL CONTENT_FILE BUFFER_SIZE
// Drives TileDB's JS client (@tiledb-inc/tiledb-cloud@1.0.8, found through
// NODE_PATH) against the Go test server of TestJSClientInterop: writes the
// bytes of CONTENT_FILE to alice/nb, reads them back with ReadQuery (with a
// buffer of BUFFER_SIZE bytes, so the read goes through INCOMPLETE replies),
// posts and gets array metadata. Prints one JSON object.
const fs = require('fs');
const { TileDBQuery, v1 } = require('@tiledb-inc/tiledb-cloud');

async function main() {
  const [base, file, bufferSize] = process.argv.slice(2);
  const content = fs.readFileSync(file);
  const n = content.length;
  const q = new TileDBQuery({ apiKey: 'k', basePath: base + '/v2' });
  const out = {};

  const w = await q.WriteQuery('alice', 'nb', {
    layout: 'row-major', subarray: [[0, n - 1]], values: { contents: { values: [...content] } },
  });
  out.writeStatus = w.status;

  const chunks = [];
  for await (const r of q.ReadQuery('alice', 'nb', {
    layout: 'row-major', ranges: [[0, n - 1]], bufferSize: Number(bufferSize), attributes: ['contents'],
  })) {
    chunks.push(Buffer.from(r.contents));
  }
  out.chunks = chunks.length;
  out.read = Buffer.concat(chunks).toString('base64');

  const api = new v1.ArrayApi(new v1.Configuration({ apiKey: 'k', basePath: base + '/v1' }));
  const size = Buffer.alloc(8);
  size.writeBigInt64LE(BigInt(n));
  await api.updateArrayMetadataCapnp('alice', 'nb', {
    entries: [
      { key: 'file_size', type: 'INT64', valueNum: 1, value: [...size], del: false },
      { key: 'type', type: 'STRING_UTF8', valueNum: 8, value: [...Buffer.from('notebook')], del: false },
    ],
  }, { headers: { 'Content-Type': 'application/capnp' } });
  const md = await api.getArrayMetadataCapnp('alice', 'nb', {
    headers: { 'Content-Type': 'application/capnp', Accept: 'application/capnp' }, responseType: 'arraybuffer',
  });
  out.metadata = Buffer.from(md.data).toString('base64');
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
