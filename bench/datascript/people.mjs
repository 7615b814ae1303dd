// people.mjs: the reference side of BenchmarkPeople (bench/people_bench_test.go).
//
// Runs the tasks of Datascript's own "people" benchmark (tonsky's datascript
// bench, bench/datascript/bench/datascript.cljc) on the npm build of
// Datascript, over the data the Go benchmark generates (bench/people.go) and
// writes to this script's standard input (or --data FILE) as JSON, and
// prints one JSON line per task:
//
//   {"task": "add-1", "nsPerOp": 1.2e9, "samplesNs": [...], "iterations": 9, "check": 100000}
//
// nsPerOp is the median of the samples' means; check is a count of the
// task's result that the Go side compares with its own, so that both sides
// are known to have done the same work.
//
// Measurement follows Datascript's bench/bench (its cljs path): warm up for
// --warmup-ms (at least one run), then --samples samples, each running the
// task until --sample-ms have passed (at least one run) and recording the
// mean; the result is the median sample. Datascript's defaults are 2000 ms,
// 500 ms and 9 samples; ours are the same but 5 samples, to keep `make bench`
// short.
//
// Datascript is driven through its JS API, as a JS program uses it: tx data
// is JS arrays and objects (attributes are strings, keyword values are
// ":male" strings), pull patterns are EDN strings that the API reads on every
// call, and results are converted to JS. That conversion is Datascript's
// cost in JS and is measured with it.
//
// Usage: node people.mjs [--data FILE] [--task NAME]... [--warmup-ms N] [--sample-ms N] [--samples N]
// Without --task, every task runs. Install Datascript first: npm ci (in this folder).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";

const require = createRequire(import.meta.url);
const d = require("datascript");
const dsVersion = require("datascript/package.json").version;

function parseArgs(argv) {
  const opts = { data: "-", tasks: [], warmupMs: 2000, sampleMs: 500, samples: 5 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case "--data": opts.data = val(); break;
      case "--task": opts.tasks.push(val()); break;
      case "--warmup-ms": opts.warmupMs = Number(val()); break;
      case "--sample-ms": opts.sampleMs = Number(val()); break;
      case "--samples": opts.samples = Number(val()); break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (!(opts.samples >= 1)) throw new Error("--samples must be at least 1");
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const w = JSON.parse(readFileSync(opts.data === "-" ? 0 : opts.data, "utf8"));

// The schema of Datascript's bench: alias cardinality many, follows a
// cardinality-many ref. Other attributes need no declaration in Datascript.
const schema = {
  alias: { ":db/cardinality": ":db.cardinality/many" },
  follows: { ":db/valueType": ":db.type/ref", ":db/cardinality": ":db.cardinality/many" },
};
const emptyDB = d.empty_db(schema);

// personMap is the map form of person p with :db/id id (a tempid string or
// an entity number), as Datascript's people are maps.
function personMap(p, id) {
  const m = {
    ":db/id": id,
    name: p.name,
    "last-name": p["last-name"],
    "full-name": p["full-name"],
    sex: ":" + p.sex,
    age: p.age,
    salary: p.salary,
  };
  if (p.alias && p.alias.length > 0) m.alias = p.alias;
  return m;
}

const people = w.people;
// The maps of add-5 and add-all are built once, as Datascript's people20k
// are maps before its bench starts; tempids are strings, as in Datascript's
// generator.
const peopleMaps = people.map((p, i) => personMap(p, String(i + 1)));

// db100k: every person, person i as entity i+1 (the tasks below address
// people by entity number).
const db100k = d.db_with(emptyDB, people.map((p, i) => personMap(p, i + 1)));

// The wide tree of the pull tasks, with Datascript's entity numbers.
const pullDB = d.db_with(emptyDB, w.tree.map((n) => {
  const m = personMap(people[n.person], n.id);
  if (n.follows && n.follows.length > 0) m.follows = n.follows;
  return m;
}));

const userDatoms = (db) => d.datoms(db, ":eavt").length;

// size is the number of tuples of a query result.
const size = (r) => (r.length !== undefined ? r.length : r.size);

// leaves counts the scalar values of a pull result, recursively.
function leaves(x) {
  if (Array.isArray(x)) return x.reduce((n, y) => n + leaves(y), 0);
  if (x !== null && typeof x === "object") return Object.values(x).reduce((n, y) => n + leaves(y), 0);
  return 1;
}

const tasks = {
  // add-1: for each person, five transactions of one datom each (name,
  // last-name, sex, age, salary), as Datascript's bench-add-1.
  "add-1": {
    run() {
      let db = emptyDB;
      for (let i = 0; i < people.length; i++) {
        const p = people[i], e = i + 1;
        db = d.db_with(db, [[":db/add", e, "name", p.name]]);
        db = d.db_with(db, [[":db/add", e, "last-name", p["last-name"]]]);
        db = d.db_with(db, [[":db/add", e, "sex", ":" + p.sex]]);
        db = d.db_with(db, [[":db/add", e, "age", p.age]]);
        db = d.db_with(db, [[":db/add", e, "salary", p.salary]]);
      }
      return db;
    },
    check: userDatoms,
  },
  // add-5: one transaction per person, its map form.
  "add-5": {
    run() {
      let db = emptyDB;
      for (const m of peopleMaps) db = d.db_with(db, [m]);
      return db;
    },
    check: userDatoms,
  },
  // add-all: every person in one transaction.
  "add-all": {
    run: () => d.db_with(emptyDB, peopleMaps),
    check: userDatoms,
  },
  // retract-5: from db100k, one :db.fn/retractEntity transaction per person.
  "retract-5": {
    run() {
      let db = db100k;
      for (const i of w.retractOrder) db = d.db_with(db, [[":db.fn/retractEntity", i + 1]]);
      return db;
    },
    check: userDatoms,
  },
  // slice-eavt: for 10,000 entities, the first datom of (datoms :eavt e
  // :full-name), its value.
  "slice-eavt": {
    run() {
      let chars = 0;
      for (const i of w.sliceIds) chars += d.datoms(db100k, ":eavt", i + 1, "full-name")[0].v.length;
      return chars;
    },
    check: (chars) => chars,
  },
  // pull-one: [:name {:follows ...}] of the tree's root.
  "pull-one": {
    run: () => d.pull(pullDB, '["name" {"follows" ...}]', 1),
    check: leaves,
  },
  // pull-many: [:db/id :last-name :alias :sex :age :salary {:follows ...}] of the root.
  "pull-many": {
    run: () => d.pull(pullDB, '[:db/id "last-name" "alias" "sex" "age" "salary" {"follows" ...}]', 1),
    check: leaves,
  },
  // pull-wildcard: [* {:follows ...}] of the root.
  "pull-wildcard": {
    run: () => d.pull(pullDB, '[* {"follows" ...}]', 1),
    check: leaves,
  },
  // The queries of Datascript's bench (q1-q4, qpred1, qpred2) on db100k,
  // and q2 with its clauses swapped (the written order is the plan in
  // Datascript). Attributes are strings and :sex values ":male" strings,
  // as this script stores them. check: the number of result tuples.
  "q1": { run: () => d.q('[:find ?e :where [?e "name" "Ivan"]]', db100k), check: size },
  "q2": { run: () => d.q('[:find ?e ?a :where [?e "name" "Ivan"] [?e "age" ?a]]', db100k), check: size },
  "q2-swapped": { run: () => d.q('[:find ?e ?a :where [?e "age" ?a] [?e "name" "Ivan"]]', db100k), check: size },
  "q3": { run: () => d.q('[:find ?e ?a :where [?e "name" "Ivan"] [?e "age" ?a] [?e "sex" ":male"]]', db100k), check: size },
  "q4": {
    run: () => d.q('[:find ?e ?l ?a :where [?e "name" "Ivan"] [?e "last-name" ?l] [?e "age" ?a] [?e "sex" ":male"]]', db100k),
    check: size,
  },
  "qpred1": { run: () => d.q('[:find ?e ?s :where [?e "salary" ?s] [(> ?s 50000)]]', db100k), check: size },
  "qpred2": {
    run: () => d.q('[:find ?e ?s :in $ ?min_s :where [?e "salary" ?s] [(> ?s ?min_s)]]', db100k, 50000),
    check: size,
  },
  // Datascript's rule benchmarks: the closure of :follows over a wide
  // tree (depth × width) or long chains (width chains of depth edges).
  ...ruleTasks(),
  // pull-many-ids (not in Datascript's bench): d/pull-many of
  // [:name :last-name :age :salary] over the 10,000 slice entities.
  "pull-many-ids": {
    run: () => d.pull_many(db100k, '["name" "last-name" "age" "salary"]', w.sliceIds.map((i) => i + 1)),
    check: leaves,
  },
};

// The graphs of Datascript's wide-db and long-db (only :follows matters
// to the rules), as edges between entity numbers.
function wideEdges(depth, width) {
  const edges = [];
  const walk = (id, depth) => {
    if (depth <= 0) return;
    for (let k = 0; k < width; k++) {
      const child = id * width + k;
      edges.push([id, child]);
      walk(child, depth - 1);
    }
  };
  walk(1, depth);
  return edges;
}

function longEdges(depth, width) {
  const edges = [];
  for (let x = 0; x < width; x++)
    for (let y = 0; y < depth; y++) edges.push([x * (depth + 1) + y + 1, x * (depth + 1) + y + 2]);
  return edges;
}

function graphDB(edges) {
  const follows = new Map();
  for (const [a, b] of edges) {
    if (!follows.has(a)) follows.set(a, []);
    follows.get(a).push(b);
    if (!follows.has(b)) follows.set(b, []);
  }
  return d.db_with(emptyDB, [...follows].map(([id, fs]) => (fs.length > 0 ? { ":db/id": id, name: "Ivan", follows: fs } : { ":db/id": id, name: "Ivan" })));
}

const followsRules = '[[(follows ?x ?y) [?x "follows" ?y]] [(follows ?x ?y) [?x "follows" ?t] (follows ?t ?y)]]';

function ruleTasks() {
  const out = {};
  for (const [kind, depth, width] of [["wide", 3, 3], ["wide", 5, 3], ["wide", 7, 3], ["wide", 4, 6], ["long", 10, 3], ["long", 30, 3], ["long", 30, 5]]) {
    let db;
    out[`rules-${kind}-${depth}x${width}`] = {
      run() {
        db ??= graphDB(kind === "wide" ? wideEdges(depth, width) : longEdges(depth, width));
        return d.q("[:find ?e ?e2 :in $ % :where (follows ?e ?e2)]", db, followsRules);
      },
      check: size,
    };
  }
  return out;
}

// measure runs fn for at least ms milliseconds (and at least once) and
// returns the mean ns per run and the last result.
function measure(fn, ms) {
  const start = performance.now();
  let n = 0, res, now;
  do {
    res = fn();
    n++;
    now = performance.now();
  } while (now - start < ms);
  return { nsPerOp: ((now - start) * 1e6) / n, n, res };
}

const names = opts.tasks.length > 0 ? opts.tasks : Object.keys(tasks);
for (const name of names) {
  const t = tasks[name];
  if (!t) throw new Error(`unknown task ${name}; tasks: ${Object.keys(tasks).join(" ")}`);
  const warm = measure(t.run, opts.warmupMs);
  const check = t.check(warm.res);
  const samplesNs = [];
  let iterations = 0;
  for (let s = 0; s < opts.samples; s++) {
    const m = measure(t.run, opts.sampleMs);
    samplesNs.push(m.nsPerOp);
    iterations += m.n;
  }
  const sorted = [...samplesNs].sort((a, b) => a - b);
  const nsPerOp = sorted[Math.floor(sorted.length / 2)];
  process.stdout.write(JSON.stringify({
    task: name, nsPerOp, samplesNs, iterations, check,
    datascript: dsVersion, node: process.version,
  }) + "\n");
}
