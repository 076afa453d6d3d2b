// The workflow matrix and the plan (dry-run resolution with preflight errors).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useServer, expectStatus, expectProblem, openapiCoverageTest, mkEnv, mkJob, mkTask, mkVar, putOverride, varOf,
} from './harness.mjs';

const S = useServer();

/** {value, source} of an effective/plan entry (more fields are welcome). */
const vs = (x) => (x && typeof x === 'object' ? { value: x.value, source: x.source } : x);
const J = '/api/v1/jobs';

function planTask(plan, name) {
  assert.ok(Array.isArray(plan.tasks), `plan.tasks: ${JSON.stringify(plan)}`);
  const t = plan.tasks.find((x) => x.name === name);
  assert.ok(t, `plan has task ${name}: ${JSON.stringify(plan.tasks.map((x) => x.name))}`);
  return t;
}

async function plan(s, job, env) {
  const r = await s.get(`${J}/${job}/plan?environment=${env}`);
  expectStatus(r, 200, `plan ${job} ${env}`);
  assert.ok(Array.isArray(r.json.errors), `plan.errors is an array: ${r.text.slice(0, 500)}`);
  return r.json;
}

function errorsFor(p, task, variable) {
  return p.errors.filter((e) => e.task === task && (variable === undefined || e.variable === variable));
}

test('setup: environments dev, staging, prod; job web with build and deploy', async () => {
  const s = S.server;
  for (const e of ['dev', 'staging', 'prod']) await mkEnv(s, e);
  await mkJob(s, 'web');
  await mkTask(s, 'web', 'build', { variables: { script: 'echo build ${{ job.name }} for ${{ env.name }}' } });
  await mkTask(s, 'web', 'deploy', {
    variables: { script: 'deploy to ${{ vars.TARGET }} in ${{ env.name }}; run ${{ run.id }}; art ${{ tasks.build.outputs.artifact }}' },
  });
  await mkVar(s, 'web', 'deploy', 'TARGET', { value: 'host-${{ env.name }}' });
  await putOverride(s, 'web', 'deploy', 'TARGET', 'prod', 'prod-cluster');
  await mkVar(s, 'web', 'deploy', 'LITERAL', { value: 'keep $${{ env.name }} as is' });
  await putOverride(s, 'web', 'deploy', 'workdir', 'staging', '/srv/staging');
});

test('workflow: environments in order, tasks in order, defaults, overrides and effective values with source', async () => {
  const s = S.server;
  const r = await s.get(`${J}/web/workflow`);
  expectStatus(r, 200);
  const wf = r.json;
  assert.equal(wf.job, 'web');
  assert.deepEqual(wf.environments, ['dev', 'staging', 'prod']);
  assert.deepEqual(wf.tasks.map((t) => [t.name, t.plugin, t.position]), [['build', 'shell', 1], ['deploy', 'shell', 2]]);
  const dep = wf.tasks[1];
  const target = varOf(dep.variables, 'TARGET');
  assert.equal(target.type, 'string');
  assert.equal(target.required, false);
  assert.equal(target.secret, false);
  assert.equal(target.value, 'host-${{ env.name }}');
  assert.deepEqual(target.overrides, { prod: 'prod-cluster' });
  assert.deepEqual(Object.keys(target.effective).sort(), ['dev', 'prod', 'staging']);
  assert.equal(target.effective.dev.source, 'default');
  assert.equal(target.effective.staging.source, 'default');
  assert.deepEqual(vs(target.effective.prod), { value: 'prod-cluster', source: 'override' });
  const wd = varOf(dep.variables, 'workdir');
  assert.deepEqual(vs(wd.effective.dev), { value: null, source: 'unset' });
  assert.deepEqual(vs(wd.effective.staging), { value: '/srv/staging', source: 'override' });
  assert.deepEqual(wd.overrides, { staging: '/srv/staging' });
  const sh = varOf(wf.tasks[0].variables, 'shell');
  for (const e of wf.environments) assert.deepEqual(vs(sh.effective[e]), { value: '/bin/sh', source: 'default' });
  const sc = varOf(wf.tasks[0].variables, 'script');
  assert.equal(sc.required, true);
  assert.equal(sc.type, 'text');
});

test('workflow follows environment and task reordering', async () => {
  const s = S.server;
  expectStatus(await s.patch('/api/v1/environments/prod', { position: 1 }), 200);
  expectStatus(await s.patch(`${J}/web/tasks/deploy`, { position: 1 }), 200);
  let wf = (await s.get(`${J}/web/workflow`)).json;
  assert.deepEqual(wf.environments, ['prod', 'dev', 'staging']);
  assert.deepEqual(wf.tasks.map((t) => t.name), ['deploy', 'build']);
  expectStatus(await s.patch('/api/v1/environments/prod', { position: 3 }), 200);
  expectStatus(await s.patch(`${J}/web/tasks/deploy`, { position: 2 }), 200);
  wf = (await s.get(`${J}/web/workflow`)).json;
  assert.deepEqual(wf.environments, ['dev', 'staging', 'prod']);
  assert.deepEqual(wf.tasks.map((t) => t.name), ['build', 'deploy']);
});

test('plan prod: overrides win, ${{ env.name }}, ${{ job.name }}, ${{ vars.X }} substituted, run/tasks refs kept, $${{ escapes', async () => {
  const s = S.server;
  const p = await plan(s, 'web', 'prod');
  assert.equal(p.job, 'web');
  assert.equal(p.environment, 'prod');
  assert.deepEqual(p.errors, []);
  assert.deepEqual(p.tasks.map((t) => t.name), ['build', 'deploy']);
  const b = planTask(p, 'build');
  assert.equal(b.plugin, 'shell');
  assert.deepEqual(vs(b.variables.script), { value: 'echo build web for prod', source: 'default' });
  assert.deepEqual(vs(b.variables.shell), { value: '/bin/sh', source: 'default' });
  assert.equal(b.variables.workdir.source, 'unset');
  assert.equal(b.variables.workdir.value, null);
  const d = planTask(p, 'deploy');
  assert.deepEqual(vs(d.variables.TARGET), { value: 'prod-cluster', source: 'override' });
  assert.deepEqual(vs(d.variables.script), {
    value: 'deploy to prod-cluster in prod; run ${{ run.id }}; art ${{ tasks.build.outputs.artifact }}', source: 'default',
  });
  assert.deepEqual(vs(d.variables.LITERAL), { value: 'keep ${{ env.name }} as is', source: 'default' });
});

test('plan dev/staging: defaults, nested substitution through vars', async () => {
  const s = S.server;
  const p = await plan(s, 'web', 'dev');
  assert.equal(p.environment, 'dev');
  assert.deepEqual(p.errors, []);
  const d = planTask(p, 'deploy');
  assert.deepEqual(vs(d.variables.TARGET), { value: 'host-dev', source: 'default' });
  assert.equal(d.variables.script.value, 'deploy to host-dev in dev; run ${{ run.id }}; art ${{ tasks.build.outputs.artifact }}');
  const st = await plan(s, 'web', 'staging');
  assert.deepEqual(vs(planTask(st, 'deploy').variables.workdir), { value: '/srv/staging', source: 'override' });
  assert.equal(planTask(st, 'build').variables.script.value, 'echo build web for staging');
});

test('plan needs ?environment= (422) naming an existing one (404)', async () => {
  const s = S.server;
  expectProblem(await s.get(`${J}/web/plan`), 422);
  expectProblem(await s.get(`${J}/web/plan?environment=`), 422);
  expectProblem(await s.get(`${J}/web/plan?environment=nowhere`), 404);
  expectProblem(await s.get(`${J}/nojob/plan?environment=dev`), 404);
  expectProblem(await s.get(`${J}/nojob/workflow`), 404);
});

test('plan errors: missing required, unknown var, unknown/later task, unknown namespace', async () => {
  const s = S.server;
  await mkJob(s, 'broken');
  await mkTask(s, 'broken', 'first', {
    variables: { script: 'echo ${{ vars.NOPE }} ${{ tasks.second.outputs.x }}' },
  });
  await mkTask(s, 'broken', 'second', { variables: { script: 'echo ${{ tasks.ghost.outputs.x }}' } });
  await mkTask(s, 'broken', 'third'); // script (required) has no value
  await mkVar(s, 'broken', 'second', 'WEIRD', { value: '${{ secrets.foo }}' });
  await mkVar(s, 'broken', 'second', 'OK', { value: '${{ tasks.first.outputs.y }} ${{ run.id }}' });
  const p = await plan(s, 'broken', 'dev');
  for (const e of p.errors) {
    assert.equal(e.environment, 'dev', `error names the environment: ${JSON.stringify(e)}`);
    assert.equal(typeof e.message, 'string');
    assert.ok(e.message.length > 0);
  }
  const f = errorsFor(p, 'first', 'script');
  assert.ok(f.length >= 1, `unknown var / later task in first.script: ${JSON.stringify(p.errors)}`);
  const msgs = f.map((e) => e.message).join(' | ');
  assert.match(msgs, /NOPE/, 'the unknown variable is named');
  assert.match(msgs, /second/, 'the later task is named');
  assert.ok(errorsFor(p, 'second', 'script').some((e) => /ghost/.test(e.message)), `unknown task ghost: ${JSON.stringify(p.errors)}`);
  assert.ok(errorsFor(p, 'second', 'WEIRD').length >= 1, `unknown namespace: ${JSON.stringify(p.errors)}`);
  assert.equal(errorsFor(p, 'second', 'OK').length, 0, `earlier task output and run.id are fine: ${JSON.stringify(p.errors)}`);
  assert.ok(errorsFor(p, 'third', 'script').length >= 1, `required script missing: ${JSON.stringify(p.errors)}`);
  assert.equal(errorsFor(p, 'third', 'shell').length, 0);
  assert.equal(planTask(p, 'third').variables.script.source, 'unset');
  // the references to run/tasks stay as written
  assert.equal(planTask(p, 'second').variables.OK.value, '${{ tasks.first.outputs.y }} ${{ run.id }}');
});

test('plan errors are per environment: a bad override only breaks its environment', async () => {
  const s = S.server;
  await mkJob(s, 'perenv');
  await mkTask(s, 'perenv', 'only', { variables: { script: 'echo ok' } });
  await putOverride(s, 'perenv', 'only', 'script', 'prod', 'echo ${{ vars.MISSING }}');
  const dev = await plan(s, 'perenv', 'dev');
  assert.deepEqual(dev.errors, []);
  assert.deepEqual(vs(planTask(dev, 'only').variables.script), { value: 'echo ok', source: 'default' });
  const prod = await plan(s, 'perenv', 'prod');
  assert.equal(prod.errors.length, 1, JSON.stringify(prod.errors));
  assert.deepEqual({ ...prod.errors[0], message: undefined }, { task: 'only', variable: 'script', environment: 'prod', message: undefined });
  assert.match(prod.errors[0].message, /MISSING/);
  // removing the override fixes prod
  expectStatus(await s.del(`${J}/perenv/tasks/only/variables/script/overrides/prod`), 204);
  assert.deepEqual((await plan(s, 'perenv', 'prod')).errors, []);
});

test('a required variable satisfied by an override only in one environment', async () => {
  const s = S.server;
  await mkJob(s, 'req');
  await mkTask(s, 'req', 'r');
  await putOverride(s, 'req', 'r', 'script', 'prod', 'echo prod only');
  const prod = await plan(s, 'req', 'prod');
  assert.deepEqual(prod.errors, []);
  assert.deepEqual(vs(planTask(prod, 'r').variables.script), { value: 'echo prod only', source: 'override' });
  const dev = await plan(s, 'req', 'dev');
  assert.equal(dev.errors.length, 1, JSON.stringify(dev.errors));
  assert.equal(dev.errors[0].task, 'r');
  assert.equal(dev.errors[0].variable, 'script');
  assert.equal(dev.errors[0].environment, 'dev');
  // workflow shows the same: unset for dev, override for prod
  const wf = (await s.get(`${J}/req/workflow`)).json;
  const sc = varOf(wf.tasks[0].variables, 'script');
  assert.deepEqual(vs(sc.effective.dev), { value: null, source: 'unset' });
  assert.deepEqual(vs(sc.effective.prod), { value: 'echo prod only', source: 'override' });
});

test('vars references: to another variable of the same task only', async () => {
  const s = S.server;
  await mkJob(s, 'scope');
  await mkTask(s, 'scope', 'a', { variables: { script: 'echo a' } });
  await mkVar(s, 'scope', 'a', 'ONLY_IN_A', { value: 'a-value' });
  await mkTask(s, 'scope', 'b', { variables: { script: 'echo ${{ vars.ONLY_IN_A }} ${{ vars.shell }}' } });
  const p = await plan(s, 'scope', 'dev');
  assert.ok(errorsFor(p, 'b', 'script').some((e) => /ONLY_IN_A/.test(e.message)), `vars of another task are not visible: ${JSON.stringify(p.errors)}`);
  assert.equal(errorsFor(p, 'a').length, 0);
});

test('a task referencing its own outputs or itself as an earlier task is an error', async () => {
  const s = S.server;
  await mkJob(s, 'selfref');
  await mkTask(s, 'selfref', 'solo', { variables: { script: 'echo ${{ tasks.solo.outputs.k }}' } });
  const p = await plan(s, 'selfref', 'dev');
  assert.ok(errorsFor(p, 'solo', 'script').length >= 1, `a task is not earlier than itself: ${JSON.stringify(p.errors)}`);
});

test('moving tasks changes which task outputs are valid', async () => {
  const s = S.server;
  // in "web", deploy (2) reads tasks.build.outputs: valid. Move deploy first: now build is later.
  expectStatus(await s.patch(`${J}/web/tasks/deploy`, { position: 1 }), 200);
  let p = await plan(s, 'web', 'dev');
  assert.ok(errorsFor(p, 'deploy', 'script').some((e) => /build/.test(e.message)), `build is now later: ${JSON.stringify(p.errors)}`);
  expectStatus(await s.patch(`${J}/web/tasks/deploy`, { position: 2 }), 200);
  p = await plan(s, 'web', 'dev');
  assert.deepEqual(p.errors, []);
});

test('an escaped reference to something unknown is not an error', async () => {
  const s = S.server;
  await mkJob(s, 'esc');
  await mkTask(s, 'esc', 'e', { variables: { script: 'echo $${{ vars.NOT_THERE }} $${{ bogus }}' } });
  const p = await plan(s, 'esc', 'dev');
  assert.deepEqual(p.errors, []);
  assert.equal(planTask(p, 'e').variables.script.value, 'echo ${{ vars.NOT_THERE }} ${{ bogus }}');
});

openapiCoverageTest(S);
