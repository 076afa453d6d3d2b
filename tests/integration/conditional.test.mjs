// Conditional requests: strong ETags, If-None-Match (304), If-Match (412) on
// every kind of object; a failed precondition changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, expectStatus, expectProblem, expectStrongETag, openapiCoverageTest, mkEnv, mkJob, mkTask, mkVar, putOverride,
} from './harness.mjs';

const S = useServer();
const WRONG = '"definitely-not-the-etag"';

test('setup', async () => {
  const s = S.server;
  await mkEnv(s, 'dev');
  await mkEnv(s, 'prod');
  await mkJob(s, 'cj');
  await mkTask(s, 'cj', 'ct', { variables: { script: 'echo c' } });
  await mkVar(s, 'cj', 'ct', 'CV', { value: 'one' });
  await putOverride(s, 'cj', 'ct', 'CV', 'prod', 'p1');
});

const objects = [
  { what: 'environment', path: '/api/v1/environments/dev', patch: { description: 'changed' }, patch2: { description: 'changed again' } },
  { what: 'job', path: '/api/v1/jobs/cj', patch: { description: 'changed' }, patch2: { description: 'changed again' } },
  { what: 'task', path: '/api/v1/jobs/cj/tasks/ct', patch: { retries: 1 }, patch2: { retries: 2 } },
  { what: 'variable', path: '/api/v1/jobs/cj/tasks/ct/variables/CV', patch: { value: 'two' }, patch2: { value: 'three' } },
];

for (const o of objects) {
  test(`${o.what}: strong ETag, 304 on If-None-Match, changes with the version`, async () => {
    const s = S.server;
    const g1 = await s.get(o.path);
    expectStatus(g1, 200);
    const et1 = expectStrongETag(g1, `GET ${o.what}`);
    const g2 = await s.get(o.path);
    assert.equal(g2.headers.get('etag'), et1, 'ETag is stable while nothing changes');
    const nm = await s.get(o.path, { 'If-None-Match': et1 });
    expectStatus(nm, 304, 'If-None-Match with the current ETag');
    assert.equal(nm.text, '', '304 has no body');
    const other = await s.get(o.path, { 'If-None-Match': WRONG });
    expectStatus(other, 200, 'If-None-Match with another ETag');
  });

  test(`${o.what}: PATCH with a wrong If-Match is 412 and changes nothing; with the right one succeeds`, async () => {
    const s = S.server;
    const g = await s.get(o.path);
    const et = expectStrongETag(g, `GET ${o.what}`);
    const bad = await s.patch(o.path, o.patch, { 'If-Match': WRONG });
    expectProblem(bad, 412);
    const same = await s.get(o.path);
    assert.deepEqual(same.json, g.json, '412 changed nothing');
    assert.equal(same.headers.get('etag'), et);
    const ok = await s.patch(o.path, o.patch, { 'If-Match': et });
    expectStatus(ok, 200, 'PATCH with the right If-Match');
    assert.ok(ok.json.version > g.json.version);
    const after = await s.get(o.path);
    const et2 = expectStrongETag(after, `GET ${o.what} after PATCH`);
    assert.notEqual(et2, et, 'ETag changes with the version');
    if (ok.headers.get('etag')) assert.equal(ok.headers.get('etag'), et2, 'PATCH response ETag is the new one');
    // the old ETag is now stale: If-None-Match gives 200, If-Match gives 412
    expectStatus(await s.get(o.path, { 'If-None-Match': et }), 200, 'stale If-None-Match');
    expectProblem(await s.patch(o.path, o.patch2, { 'If-Match': et }), 412);
    assert.deepEqual((await s.get(o.path)).json, after.json, 'stale If-Match changed nothing');
    // no If-Match at all: unconditional update
    expectStatus(await s.patch(o.path, o.patch2), 200, 'unconditional PATCH');
  });
}

test('override: ETag, 304, PUT with wrong If-Match 412, right one 200', async () => {
  const s = S.server;
  const P = '/api/v1/jobs/cj/tasks/ct/variables/CV/overrides/prod';
  const g = await s.get(P);
  expectStatus(g, 200);
  const et = expectStrongETag(g, 'GET override');
  expectStatus(await s.get(P, { 'If-None-Match': et }), 304);
  expectProblem(await s.put(P, { value: 'p2' }, { 'If-Match': WRONG }), 412);
  assert.equal((await s.get(P)).json.value, 'p1', 'unchanged');
  assert.equal((await s.get('/api/v1/jobs/cj/tasks/ct/variables/CV')).json.overrides.prod, 'p1');
  const ok = await s.put(P, { value: 'p2' }, { 'If-Match': et });
  expectStatus(ok, 200);
  assert.equal((await s.get(P)).json.value, 'p2');
  const et2 = expectStrongETag(await s.get(P), 'GET override after PUT');
  assert.notEqual(et2, et);
  expectProblem(await s.del(P, { 'If-Match': et }), 412);
  assert.equal((await s.get(P)).json.value, 'p2', 'stale DELETE changed nothing');
  expectStatus(await s.del(P, { 'If-Match': et2 }), 204);
  expectProblem(await s.get(P), 404);
});

test('DELETE with a wrong If-Match is 412 and deletes nothing; the right one deletes', async () => {
  const s = S.server;
  const paths = [
    '/api/v1/jobs/cj/tasks/ct/variables/CV',
    '/api/v1/jobs/cj/tasks/ct',
    '/api/v1/jobs/cj',
    '/api/v1/environments/prod',
  ];
  for (const p of paths) {
    const g = await s.get(p);
    expectStatus(g, 200, p);
    const et = expectStrongETag(g, p);
    expectProblem(await s.del(p, { 'If-Match': WRONG }), 412);
    const still = await s.get(p);
    expectStatus(still, 200, `${p} still there after a 412`);
    assert.deepEqual(still.json, g.json);
    expectStatus(await s.del(p, { 'If-Match': et }), 204, `DELETE ${p} with the right If-Match`);
    expectProblem(await s.get(p), 404);
  }
});

test('RFC 9110 forms: If-None-Match list and *, If-Match *', async () => {
  const s = S.server;
  const p = '/api/v1/environments/dev';
  const et = expectStrongETag(await s.get(p));
  expectStatus(await s.get(p, { 'If-None-Match': `${WRONG}, ${et}` }), 304, 'If-None-Match with a list containing the current ETag');
  expectStatus(await s.get(p, { 'If-None-Match': '*' }), 304, 'If-None-Match: * on an existing object');
  expectStatus(await s.patch(p, { description: 'star' }, { 'If-Match': '*' }), 200, 'If-Match: * on an existing object');
});

test('ETags differ between objects', async () => {
  const s = S.server;
  await mkEnv(s, 'e1');
  await mkEnv(s, 'e2');
  const a = expectStrongETag(await s.get('/api/v1/environments/e1'));
  const b = expectStrongETag(await s.get('/api/v1/environments/e2'));
  assert.notEqual(a, b);
  // a 412 for one object is not satisfied by another object's ETag
  expectProblem(await s.patch('/api/v1/environments/e1', { description: 'x' }, { 'If-Match': b }), 412);
});

test('no lost updates: concurrent PATCHes with the same If-Match, exactly one wins', async () => {
  const s = S.server;
  await mkEnv(s, 'race');
  const p = '/api/v1/environments/race';
  for (let round = 0; round < 3; round++) {
    const g = await s.get(p);
    const et = expectStrongETag(g);
    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => s.patch(p, { description: `writer ${round}-${i}` }, { 'If-Match': et })));
    const codes = rs.map((r) => r.status).sort();
    assert.equal(codes.filter((c) => c === 200).length, 1, `exactly one 200: ${codes}`);
    assert.equal(codes.filter((c) => c === 412).length, 7, `the others 412: ${codes}`);
    const winner = rs.find((r) => r.status === 200).json;
    const now = (await s.get(p)).json;
    assert.equal(now.description, winner.description);
    assert.equal(now.version, g.json.version + 1);
  }
});

openapiCoverageTest(S);
