// Drives `notebookfs serve` with TileDB's own JS client,
// @tiledb-inc/tiledb-cloud 1.0.8, and checks every reply with node:assert.
// One line per check on stdout ("ok - ..." or "FAIL - ..."); exits 1 on the
// first failure. remote/server/js_test.go runs it; by hand:
//
//   cd test/js && npm ci
//   PORT=8181 TOKEN=... NAMESPACE=alice NOTEBOOK=nb1 NOTEBOOK_FILE=nb1.ipynb \
//     OTHER_USER=bob [OTHER_TOKEN=...] node js_client.js
//
// Env: PORT (the server, on 127.0.0.1), TOKEN (a token of the user whose
// namespace is NAMESPACE), NOTEBOOK (the name of an existing notebook there),
// NOTEBOOK_FILE (its exact bytes), OTHER_USER (a second user to share with)
// and optionally OTHER_TOKEN (that user's token, to check what they see).
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const TileDBClient = require("@tiledb-inc/tiledb-cloud").default;
const { v1 } = require("@tiledb-inc/tiledb-cloud");
const axios = require("axios");

function env(name, optional) {
  const v = process.env[name];
  if (!v && !optional) {
    console.log(`FAIL - environment: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const base = `http://127.0.0.1:${env("PORT")}`;
const token = env("TOKEN");
const ns = env("NAMESPACE");
const nbName = env("NOTEBOOK");
const nbBytes = fs.readFileSync(env("NOTEBOOK_FILE"));
const other = env("OTHER_USER");
const otherToken = env("OTHER_TOKEN", true);

// basePath without /v1: the client appends /v1 and /v2 itself.
const client = new TileDBClient({ basePath: base, apiKey: token });
const otherClient = otherToken ? new TileDBClient({ basePath: base, apiKey: otherToken }) : null;
const queryApi = new v1.QueryApi(client.config);
const notebooksApi = new v1.NotebooksApi(client.config);

let checks = 0;
async function check(name, fn) {
  try {
    await fn();
    checks++;
    console.log(`ok - ${name}`);
  } catch (e) {
    const detail = e.response ? `HTTP ${e.response.status} ${JSON.stringify(e.response.data)}` : "";
    console.log(`FAIL - ${name}: ${e.message} ${detail}`);
    if (e.stack) console.error(e.stack);
    process.exit(1);
  }
}

// expectStatus runs a request that must fail with an HTTP status and an
// Error body {code, message, request_id}; it returns the body.
async function expectStatus(promise, status) {
  try {
    const res = await promise;
    assert.fail(`expected HTTP ${status}, got ${res.status}`);
  } catch (e) {
    if (!e.response) throw e;
    assert.equal(e.response.status, status);
    const body = e.response.data;
    assert.equal(typeof body.code, "number");
    assert.equal(typeof body.message, "string");
    assert.ok(body.request_id, "request_id is set");
    return body;
  }
}

function findByName(arrays, name) {
  return (arrays || []).find((a) => a.name === name);
}

(async () => {
  let info;

  await check("userProfile returns the user with notebook_sharing", async () => {
    const me = (await client.userProfile()).data;
    assert.equal(me.username, ns);
    assert.ok(me.id);
    assert.ok(me.enabled_features.includes("notebook_sharing"));
    assert.ok(me.allowed_actions.includes("create"));
    assert.ok(me.organizations.some((o) => o.organization_name === "public"), "public organization listed");
  });

  await check("organizations lists public", async () => {
    const orgs = (await client.organizations()).data;
    assert.ok(Array.isArray(orgs));
    assert.ok(orgs.some((o) => o.name === "public"));
    const pub = (await client.organization("public")).data;
    assert.equal(pub.name, "public");
  });

  await check("listArrays (owned, file_type notebook, namespace) finds the notebook", async () => {
    const res = (await client.listArrays({ fileType: ["notebook"], namespace: ns, perPage: 100 })).data;
    const a = findByName(res.arrays, nbName);
    assert.ok(a, `notebook ${nbName} listed`);
    assert.equal(a.namespace, ns);
    assert.equal(a.file_type, "notebook");
    assert.equal(a.tiledb_uri, `tiledb://${ns}/${nbName}`);
    assert.deepEqual(a.allowed_actions, ["read", "write", "edit"]);
    assert.equal(res.pagination_metadata.page, 1);
    assert.equal(res.pagination_metadata.per_page, 100);
    assert.equal(res.pagination_metadata.total_items, res.arrays.length);
  });

  await check("listArrays with exclude_file_type notebook is empty", async () => {
    const res = (await client.listArrays({ excludeFileType: ["notebook"] })).data;
    assert.equal((res.arrays || []).length, 0);
  });

  await check("arraysBrowserOwnedSidebarGet counts the namespace", async () => {
    const sb = (await client.ArrayApi.arraysBrowserOwnedSidebarGet()).data;
    assert.ok(sb.namespaces.includes(ns));
    assert.ok(sb.result_count_by_namespace[ns] >= 1);
  });

  await check("listSharedArrays and listPublicArrays do not show it yet", async () => {
    const shared = (await client.listSharedArrays()).data;
    assert.equal(findByName(shared.arrays, nbName), undefined);
    const pub = (await client.listPublicArrays()).data;
    assert.equal(findByName(pub.arrays, nbName), undefined);
  });

  await check("info returns ArrayInfo", async () => {
    info = (await client.info(ns, nbName)).data;
    assert.equal(info.name, nbName);
    assert.equal(info.namespace, ns);
    assert.match(info.id, /^[0-9a-f-]{36}$/);
    assert.equal(info.size, nbBytes.length);
    assert.equal(info.public_share, false);
    assert.ok(!Number.isNaN(Date.parse(info.last_accessed)));
    const byId = (await client.info(ns, info.id)).data;
    assert.equal(byId.name, nbName);
  });

  await check("ArrayApi.getArrayMetaDataJson gives file_size", async () => {
    const meta = (await client.ArrayApi.getArrayMetaDataJson(ns, nbName)).data;
    assert.equal(meta.file_size, nbBytes.length);
    assert.equal(meta.type, "notebook");
  });

  await check("QueryApi.getFile returns the exact bytes", async () => {
    const res = await queryApi.getFile(ns, nbName, "application/json", undefined, { responseType: "arraybuffer" });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"], "application/x-ipynb+json");
    assert.ok(res.headers["x-tiledb-cloud-task-id"]);
    assert.ok(Buffer.from(res.data).equals(nbBytes), "bytes equal NOTEBOOK_FILE");
  });

  await check("end timestamps (NotebooksApi, ArrayApi) and fragment_end_timestamp agree", async () => {
    const ts = (await notebooksApi.notebooksNamespaceArrayEndTimestampsGet(ns, nbName, 1, 50)).data;
    assert.ok(ts.end_timestamps.length >= 1);
    assert.equal(ts.pagination_metadata.per_page, 50);
    const sorted = [...ts.end_timestamps].sort((a, b) => a - b);
    assert.deepEqual(ts.end_timestamps, sorted);
    const ts2 = (await client.ArrayApi.arraysNamespaceArrayEndTimestampsGet(ns, nbName, 1, 20)).data;
    assert.deepEqual(ts2.end_timestamps, ts.end_timestamps);
    const last = (await client.ArrayApi.getFragmentEndTimestamp(ns, nbName)).data;
    assert.equal(last, ts.end_timestamps[ts.end_timestamps.length - 1]);
    assert.equal(last, Date.parse(info.last_accessed));
  });

  await check(`shareArray with ${other}, listSharedWith shows it`, async () => {
    await client.shareArray(ns, nbName, { namespace: other, actions: ["read"] });
    const pol = (await client.listSharedWith(ns, nbName)).data;
    assert.deepEqual(pol, [{ namespace: other, actions: ["read"], namespace_type: "user" }]);
    const i = (await client.info(ns, nbName)).data;
    assert.equal(i.share_count, 1);
  });

  if (otherClient) {
    await check(`${other} sees it in listSharedArrays, read-only`, async () => {
      const res = (await otherClient.listSharedArrays({ fileType: ["notebook"] })).data;
      const a = findByName(res.arrays, nbName);
      assert.ok(a, "listed as shared");
      assert.deepEqual(a.allowed_actions, ["read"]);
      const body = await expectStatus(otherClient.renameNotebook(ns, nbName, "stolen"), 403);
      assert.equal(body.code, 4003);
    });
  }

  await check("share with public, listPublicArrays shows it, unshare", async () => {
    await client.shareArray(ns, nbName, { namespace: "public", actions: ["read"] });
    const pub = (await client.listPublicArrays({ namespace: ns })).data;
    const a = findByName(pub.arrays, nbName);
    assert.ok(a, "listed as public");
    assert.equal(a.public_share, true);
    await client.unshareArray(ns, nbName, "public");
    const after = (await client.listPublicArrays({ namespace: ns })).data;
    assert.equal(findByName(after.arrays, nbName), undefined);
  });

  await check(`unshareArray ${other}, listSharedWith is empty`, async () => {
    await client.unshareArray(ns, nbName, other);
    const pol = (await client.listSharedWith(ns, nbName)).data;
    assert.equal((pol || []).length, 0);
    if (otherClient) {
      const body = await expectStatus(otherClient.info(ns, nbName), 404);
      assert.equal(body.code, 4004);
    }
  });

  let uploaded;
  await check("v2 notebook upload (axios) creates a notebook", async () => {
    const nb = Buffer.from(JSON.stringify({ cells: [], metadata: {}, nbformat: 4, nbformat_minor: 5 }));
    const res = await axios.post(`${base}/v2/notebooks/${ns}/${encodeURIComponent("js upload")}/upload`, nb, {
      params: { filesize: nb.length },
      headers: { "X-TILEDB-REST-API-KEY": token, "Content-Type": "application/octet-stream" },
    });
    assert.equal(res.status, 201);
    assert.equal(res.data.name, "js upload");
    assert.equal(res.data.output_uri, `tiledb://${ns}/${res.data.id}`);
    uploaded = res.data;
    const meta = (await client.ArrayApi.getArrayMetaDataJson(ns, uploaded.id)).data;
    assert.equal(meta.file_size, nb.length);
  });

  await check("renameNotebook keeps the id", async () => {
    await client.renameNotebook(ns, "js upload", "js renamed");
    const i = (await client.info(ns, "js renamed")).data;
    assert.equal(i.id, uploaded.id);
    await expectStatus(client.info(ns, "js upload"), 404);
  });

  await check("ArrayApi.deleteArray removes it", async () => {
    const res = await client.ArrayApi.deleteArray(ns, "js renamed", "application/json");
    assert.equal(res.status, 204);
    const body = await expectStatus(client.info(ns, uploaded.id), 404);
    assert.equal(body.code, 4004);
  });

  await check("a bad token is 401 with an Error body", async () => {
    const bad = new TileDBClient({ basePath: base, apiKey: "not-a-token" });
    const body = await expectStatus(bad.userProfile(), 401);
    assert.equal(body.code, 4001);
  });

  console.log(`# ${checks} checks passed`);
})().catch((e) => {
  console.log(`FAIL - unexpected: ${e.stack || e}`);
  process.exit(1);
});
