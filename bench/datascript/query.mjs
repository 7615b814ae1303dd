// query.mjs: the reference side of TestQueriesAgainstDatascript
// (bench/datascript_query_test.go). Reads {"people": [...], "queries":
// [{"q": EDN, "args": [...]}]} from standard input, loads the people as
// people.mjs does (person i is entity i+1; attributes are strings, :sex
// values ":male" strings), runs each query on Datascript and prints one
// JSON line per query: {"rows": [[...], ...]} or {"error": "..."}.
//
// Usage: node query.mjs < input.json   (npm ci in this folder first)

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const d = require("datascript");

const input = JSON.parse(readFileSync(0, "utf8"));
const schema = { alias: { ":db/cardinality": ":db.cardinality/many" } };
const db = d.db_with(d.empty_db(schema), input.people.map((p, i) => {
  const m = {
    ":db/id": i + 1, name: p.name, "last-name": p["last-name"], "full-name": p["full-name"],
    sex: ":" + p.sex, age: p.age, salary: p.salary,
  };
  if (p.alias && p.alias.length > 0) m.alias = p.alias;
  return m;
}));

for (const { q, args } of input.queries) {
  try {
    let res = d.q(q, db, ...(args || []));
    if (res instanceof Set) res = [...res];
    if (!Array.isArray(res)) res = [[res]];
    process.stdout.write(JSON.stringify({ rows: res.map((r) => (Array.isArray(r) ? r : [r])) }) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: String(e && e.message ? e.message : e) }) + "\n");
  }
}
