// Prints, as JSON, what TileDB's own JS client reports for
// listSharedWith(namespace, array). Env: BASE (server URL), TOKEN, NS, ARRAY.
const TileDBClient = require('@tiledb-inc/tiledb-cloud').default;

(async () => {
  const c = new TileDBClient({ basePath: process.env.BASE, apiKey: process.env.TOKEN });
  const res = await c.listSharedWith(process.env.NS, process.env.ARRAY);
  process.stdout.write(JSON.stringify(res.data));
})().catch((e) => {
  console.error(e.response ? `${e.response.status} ${JSON.stringify(e.response.data)}` : e);
  process.exit(1);
});
