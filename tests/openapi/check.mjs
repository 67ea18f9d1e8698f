// The API contract check: docs/openapi.yaml against Redocly's rules, then every snowgate
// answer the end-to-end tests recorded (SG_API_RECORD, see tests/e2e/harness.c) against it:
// the route and method must be documented, the status too, and a JSON body must match the
// schema documented for that status. So the spec cannot drift from the code unnoticed.
//   node check.mjs SPEC RECORD_DIR
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const [specPath, recordDir] = process.argv.slice(2);
if (!specPath || !recordDir) {
  console.error('usage: node check.mjs SPEC RECORD_DIR');
  process.exit(2);
}

// 1. The document itself, with a real validator.
try {
  execFileSync(join(here, 'node_modules', '.bin', 'redocly'),
    ['lint', specPath, '--config', join(here, 'redocly.yaml'), '--format', 'stylish'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  console.log(`redocly lint: ${specPath} is valid`);
} catch (e) {
  console.error(`redocly lint failed:\n${e.stdout}${e.stderr}`);
  process.exit(1);
}

const spec = YAML.parse(readFileSync(specPath, 'utf8'));

// 2. The route table (src/gate/api/routes.c) and the document name the same operations: each
// route's handler api_X is the operationId X of that method and path.
const table = readFileSync(join(here, '..', '..', 'src', 'gate', 'api', 'routes.c'), 'utf8')
  .split('sg_gate_metrics_routes')[0];
const coded = [...table.matchAll(/\{"(\w+)",\s+"([^"]+)",\s+api_(\w+),\s*[\w|]+\}/g)]
  .filter(([, , p]) => p !== '/' && !p.startsWith('/ui/'));
let drift = 0;
for (const [, m, p, id] of coded) {
  const got = spec.paths[p]?.[m.toLowerCase()]?.operationId;
  if (got !== id) {
    console.error(`routes.c has ${m} ${p} (api_${id}); the document ${got ? `calls it ${got}` : 'lacks it'}`);
    drift++;
  }
}
for (const [p, ops] of Object.entries(spec.paths))
  for (const [m, op] of Object.entries(ops))
    if (op?.operationId && !coded.some(([, cm, cp]) => cm.toLowerCase() === m && cp === p)) {
      console.error(`the document has ${m.toUpperCase()} ${p}, which routes.c does not serve`);
      drift++;
    }
if (drift) process.exit(1);
console.log(`routes: the ${coded.length} routes of routes.c are the document's operations`);

// 3. The answers.
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const rewrite = (node) => {
  if (Array.isArray(node)) return node.map(rewrite);
  if (node && typeof node === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(node))
      out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `spec${v}` : rewrite(v);
    return out;
  }
  return node;
};
ajv.addSchema({ $id: 'spec', components: rewrite(spec.components ?? {}) });
const resolve = (obj) => {
  while (obj && obj.$ref) {
    const parts = obj.$ref.replace(/^#\//, '').split('/');
    obj = parts.reduce((o, p) => o?.[p.replace(/~1/g, '/').replace(/~0/g, '~')], spec);
  }
  return obj;
};

// Literal paths before templated ones: /api/v1/requests/summary is not /api/v1/requests/{id}.
const routes = Object.keys(spec.paths)
  .map((p) => ({ p, re: new RegExp(`^${p.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`), vars: (p.match(/\{/g) || []).length }))
  .sort((a, b) => a.vars - b.vars);

const records = [];
if (existsSync(recordDir))
  for (const f of readdirSync(recordDir).filter((n) => n.endsWith('.jsonl')))
    for (const line of readFileSync(join(recordDir, f), 'utf8').split('\n'))
      if (line.trim()) records.push(JSON.parse(line));

// snowgate's answers: its own path space (the tests also talk to snowsim, whose ports a later
// snowgate may reuse, so origins cannot tell them apart).
const ours = (p) => ['/api/v1/', '/webhooks/'].some((x) => p.startsWith(x)) ||
  ['/oauth-callback', '/healthz', '/readyz', '/metrics', '/api/openapi.json'].includes(p);
// "no such endpoint": a server that does not serve the path at all (metrics.listen serves
// /metrics alone), not an answer of the route.
const unserved = (r) => r.status === 404 && r.body?.error?.message === 'no such endpoint';
// Each kind of problem is reported once, however many answers show it.
const problems = new Set();
const problem = (key, text) => {
  if (!problems.has(key)) console.error(text);
  problems.add(key);
};
let checked = 0;
const compiled = new Map();
for (const r of records) {
  const path = new URL(r.url).pathname;
  if (!ours(path) || unserved(r)) continue;
  const method = (r.method === 'HEAD' ? 'GET' : r.method).toLowerCase();
  const route = routes.find((x) => x.re.test(path));
  if (!route) {
    if (r.status !== 404) problem(`route ${r.method} ${path}`, `undocumented route: ${r.method} ${path} answered ${r.status}`);
    continue;
  }
  const op = spec.paths[route.p][method];
  if (!op) {
    if (r.status !== 405) problem(`method ${r.method} ${route.p}`, `undocumented method: ${r.method} ${route.p} answered ${r.status}`);
    continue;
  }
  const resp = resolve(op.responses?.[String(r.status)] ?? op.responses?.default);
  if (!resp) {
    problem(`status ${r.method} ${route.p} ${r.status}`, `undocumented status: ${r.method} ${route.p} answered ${r.status}: ${JSON.stringify(r.body ?? '').slice(0, 300)}`);
    continue;
  }
  checked++;
  const schema = resp.content?.['application/json']?.schema;
  if (!schema || r.body === undefined) continue;
  const key = `${method} ${route.p} ${r.status}`;
  if (!compiled.has(key)) compiled.set(key, ajv.compile(rewrite(schema)));
  const validate = compiled.get(key);
  if (!validate(r.body))
    problem(`schema ${key}`, `schema mismatch: ${r.method} ${path} ${r.status}: ${ajv.errorsText(validate.errors)}\n  body: ${JSON.stringify(r.body).slice(0, 400)}`);
}
if (checked === 0) {
  console.error(`no recorded snowgate answers in ${recordDir}: did the end-to-end tests run with SG_API_RECORD?`);
  process.exit(1);
}
if (problems.size) {
  console.error(`${problems.size} contract problem(s) in ${checked} answers`);
  process.exit(1);
}
console.log(`contract: ${checked} recorded answers match ${specPath}`);
