/*
 * store_sqlite.c - the SQLite backend of struct store_ops (DESIGN.md §6).
 *
 * One handle is one connection in WAL mode with foreign keys on. Every SQL
 * statement is prepared once per connection, on first use, and kept in the
 * context; values are always bound, never spliced into SQL text. The schema
 * is a list of numbered migrations recorded in schema_migrations; opening a
 * database applies the ones it lacks, each in its own transaction.
 *
 * JSON members are stored as compact JSON text and parsed back with
 * JSON_DECODE_ANY, so scalars round-trip. Enumerations (variable types,
 * on_failure) are stored by name so the file stays readable and survives a
 * reordering of the C enums.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "store/store.h"

#define BUSY_TIMEOUT_MS 5000

/* --- schema ------------------------------------------------------------ */

/*
 * The migrations, applied in order; migration i has version i + 1. Never
 * edit one that has shipped: append a new one instead.
 */
static const char *const migrations[] = {
    /* 1: the model. Positions carry no UNIQUE constraint because moving a
     * task renumbers its neighbours one row at a time. */
    "CREATE TABLE envs ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  position INTEGER NOT NULL,"
    "  protected INTEGER NOT NULL DEFAULT 0,"
    "  grants TEXT NOT NULL DEFAULT '[]',"
    "  version INTEGER NOT NULL DEFAULT 1,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL);"
    "CREATE INDEX envs_position ON envs(position, id);"
    "CREATE TABLE jobs ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  version INTEGER NOT NULL DEFAULT 1,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL);"
    "CREATE TABLE tasks ("
    "  id INTEGER PRIMARY KEY,"
    "  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  plugin TEXT NOT NULL,"
    "  position INTEGER NOT NULL,"
    "  on_failure TEXT NOT NULL DEFAULT 'stop' CHECK (on_failure IN ('stop', 'continue')),"
    "  timeout_s INTEGER NOT NULL DEFAULT 0,"
    "  retries INTEGER NOT NULL DEFAULT 0,"
    "  enabled INTEGER NOT NULL DEFAULT 1,"
    "  version INTEGER NOT NULL DEFAULT 1,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (job_id, name));"
    "CREATE INDEX tasks_position ON tasks(job_id, position, id);"
    "CREATE TABLE vars ("
    "  id INTEGER PRIMARY KEY,"
    "  task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  required INTEGER NOT NULL DEFAULT 0,"
    "  secret INTEGER NOT NULL DEFAULT 0,"
    "  custom INTEGER NOT NULL DEFAULT 0,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  value TEXT,"
    "  vals TEXT,"
    "  version INTEGER NOT NULL DEFAULT 1,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (task_id, name));"
    "CREATE TABLE overrides ("
    "  id INTEGER PRIMARY KEY,"
    "  var_id INTEGER NOT NULL REFERENCES vars(id) ON DELETE CASCADE,"
    "  env_id INTEGER NOT NULL REFERENCES envs(id) ON DELETE CASCADE,"
    "  value TEXT NOT NULL,"
    "  version INTEGER NOT NULL DEFAULT 1,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (var_id, env_id));"
    "CREATE INDEX overrides_env ON overrides(env_id);"
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  role TEXT NOT NULL,"
    "  password_hash TEXT,"
    "  version INTEGER NOT NULL DEFAULT 1,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL);"
    "CREATE TABLE tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  hash TEXT NOT NULL UNIQUE,"
    "  version INTEGER NOT NULL DEFAULT 1,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL);"
    "CREATE INDEX tokens_user ON tokens(user_id);"
    "CREATE TABLE kv ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL);",
    /* 2: the change sequence, bumped by every write transaction. */
    "CREATE TABLE changes ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  seq INTEGER NOT NULL);"
    "INSERT INTO changes(id, seq) VALUES (1, 0);",
    /* 3: runs, their task results and their logs (DESIGN.md §5). A run
     * keeps the names of its job and environment and has no foreign key to
     * them: runs outlive the job they ran. Times not reached yet are NULL.
     * log_chunks.seq is AUTOINCREMENT so a sequence number is never
     * handed out twice, not even after the newest chunks are deleted. */
    "CREATE TABLE runs ("
    "  id INTEGER PRIMARY KEY,"
    "  job TEXT NOT NULL,"
    "  environment TEXT NOT NULL,"
    "  job_id INTEGER NOT NULL,"
    "  env_id INTEGER NOT NULL,"
    "  status TEXT NOT NULL,"
    "  triggered_by TEXT NOT NULL DEFAULT '',"
    "  rerun_of INTEGER,"
    "  started_at TEXT,"
    "  finished_at TEXT,"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0,"
    "  owner TEXT,"
    "  snapshot TEXT NOT NULL,"
    "  version INTEGER NOT NULL DEFAULT 1,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL);"
    "CREATE INDEX runs_status ON runs(status, id);"
    "CREATE INDEX runs_job ON runs(job, id);"
    "CREATE INDEX runs_environment ON runs(environment, id);"
    "CREATE TABLE task_results ("
    "  id INTEGER PRIMARY KEY,"
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  exit_code INTEGER NOT NULL DEFAULT -1,"
    "  error TEXT,"
    "  started_at TEXT,"
    "  finished_at TEXT,"
    "  outputs TEXT NOT NULL DEFAULT '{}',"
    "  UNIQUE (run_id, idx));"
    "CREATE TABLE log_chunks ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    "  task_idx INTEGER NOT NULL,"
    "  stream TEXT NOT NULL,"
    "  ts TEXT NOT NULL,"
    "  data BLOB NOT NULL);"
    "CREATE INDEX log_chunks_run ON log_chunks(run_id, seq);",
    /* 4: security (DESIGN.md §7): login throttling, web sessions, the
     * audit log. Times used for comparisons are Unix seconds. */
    "ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN locked_until INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE sessions ("
    "  id INTEGER PRIMARY KEY,"
    "  hash TEXT NOT NULL UNIQUE,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  csrf_hash TEXT NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  created_at TEXT NOT NULL);"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  ts TEXT NOT NULL,"
    "  user TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  detail TEXT NOT NULL DEFAULT '{}');",
    /* 5: leases of running runs (DESIGN.md §6): lease_until in Unix
     * milliseconds of the database's clock (NULL: no lease), fence the
     * number of claims and revocations (fenced writes). */
    "ALTER TABLE runs ADD COLUMN lease_until INTEGER;"
    "ALTER TABLE runs ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;",
    /* 6: worker tags (DESIGN.md §6): an environment's required tags, a
     * run's copy of them, and the executors that report themselves.
     * workers.seen_at is Unix milliseconds of the database's clock. */
    "ALTER TABLE envs ADD COLUMN worker_tags TEXT NOT NULL DEFAULT '[]';"
    "ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';"
    "CREATE TABLE workers ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  kind TEXT NOT NULL,"
    "  tags TEXT NOT NULL DEFAULT '[]',"
    "  concurrency INTEGER NOT NULL,"
    "  active INTEGER NOT NULL DEFAULT 0,"
    "  lease_s INTEGER NOT NULL,"
    "  draining INTEGER NOT NULL DEFAULT 0,"
    "  started_at TEXT NOT NULL,"
    "  seen_at INTEGER NOT NULL);",
};
#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* --- statements -------------------------------------------------------- */

/* Every SELECT and RETURNING starts with these four columns (read_meta). */
#define META "id, version, created_at, updated_at"
#define RET  " RETURNING " META

#define ENV_COLS  META ", name, description, position, protected, grants, worker_tags"
#define JOB_COLS  META ", name, description"
#define TASK_COLS META ", job_id, name, plugin, position, on_failure, timeout_s, retries, enabled"
#define VAR_COLS                                                                                   \
    "v.id, v.version, v.created_at, v.updated_at, v.task_id, v.name, v.type, v.required, "         \
    "v.secret, v.custom, v.description, v.value, v.vals"
#define OVR_COLS   "o.id, o.version, o.created_at, o.updated_at, o.var_id, o.env_id, o.value"
#define USER_COLS  META ", name, role, password_hash, failed_logins, locked_until"
#define TOKEN_COLS META ", name, user_id, hash"
#define TOKEN_USER_COLS                                                                            \
    "t.id, t.version, t.created_at, t.updated_at, t.name, t.user_id, t.hash, u.name"
#define SESSION_COLS "id, hash, user_id, csrf_hash, expires_at"
#define AUDIT_COLS   "id, ts, user, action, kind, name, detail"
#define RUN_COLS                                                                                   \
    META ", job, environment, job_id, env_id, status, triggered_by, rerun_of, started_at, "        \
         "finished_at, cancel_requested, owner, snapshot, fence, COALESCE(lease_until, 0), tags"
#define RESULT_COLS                                                                                \
    "id, run_id, idx, name, status, attempts, exit_code, error, started_at, finished_at, "         \
    "outputs, (SELECT fence FROM runs WHERE runs.id = task_results.run_id)"
/* The database's clock in Unix milliseconds: every node reads the same. */
#define NOW_MS "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
#define LOG_COLS "seq, run_id, task_idx, stream, ts, data"
/* The filter of run_list: ?1 job, ?2 environment, ?3 status (NULL: any),
 * ?4 the id to stay below, ?5 the limit. Each RUN_LIST_* statement puts
 * one equality in front of it so that SQLite walks the matching index
 * backwards from ?4 and stops after ?5 rows. */
#define RUN_FILTER                                                                                 \
    "(?1 IS NULL OR job = ?1) AND (?2 IS NULL OR environment = ?2) AND "                           \
    "(?3 IS NULL OR status = ?3) AND id < ?4 ORDER BY id DESC LIMIT ?5"

#define STMT_MAP(X)                                                                                \
    X(BEGIN_READ, "BEGIN")                                                                         \
    X(BEGIN_WRITE, "BEGIN IMMEDIATE")                                                              \
    X(COMMIT, "COMMIT")                                                                            \
    X(ROLLBACK, "ROLLBACK")                                                                        \
    X(MIGRATION_MAX, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations")                    \
    X(MIGRATION_HAS, "SELECT 1 FROM schema_migrations WHERE version = ?1")                         \
    X(MIGRATION_ADD, "INSERT INTO schema_migrations(version, applied_at) VALUES (?1, ?2)")         \
                                                                                                   \
    X(ENV_LIST, "SELECT " ENV_COLS " FROM envs ORDER BY position, id")                             \
    X(ENV_GET, "SELECT " ENV_COLS " FROM envs WHERE name = ?1")                                    \
    X(ENV_INSERT, "INSERT INTO envs(name, description, position, protected, grants, worker_tags, " \
                  "version, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?7, 1, ?6, ?6)" RET) \
    X(ENV_UPDATE, "UPDATE envs SET name = ?1, description = ?2, position = ?3, protected = ?4, "   \
                  "grants = ?5, worker_tags = ?7, version = version + 1, updated_at = ?6 "         \
                  "WHERE id = ?8" RET)                                                             \
    X(ENV_DELETE, "DELETE FROM envs WHERE id = ?1")                                                \
                                                                                                   \
    X(JOB_LIST, "SELECT " JOB_COLS " FROM jobs ORDER BY name")                                     \
    X(JOB_GET, "SELECT " JOB_COLS " FROM jobs WHERE name = ?1")                                    \
    X(JOB_INSERT, "INSERT INTO jobs(name, description, version, created_at, updated_at) "          \
                  "VALUES (?1, ?2, 1, ?3, ?3)" RET)                                                \
    X(JOB_UPDATE, "UPDATE jobs SET name = ?1, description = ?2, version = version + 1, "           \
                  "updated_at = ?3 WHERE id = ?4" RET)                                             \
    X(JOB_DELETE, "DELETE FROM jobs WHERE id = ?1")                                                \
                                                                                                   \
    X(TASK_LIST, "SELECT " TASK_COLS " FROM tasks WHERE job_id = ?1 ORDER BY position, id")        \
    X(TASK_GET, "SELECT " TASK_COLS " FROM tasks WHERE job_id = ?1 AND name = ?2")                 \
    X(TASK_INSERT, "INSERT INTO tasks(job_id, name, plugin, position, on_failure, timeout_s, "     \
                   "retries, enabled, version, created_at, updated_at) "                           \
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?9)" RET)                       \
    X(TASK_UPDATE, "UPDATE tasks SET job_id = ?1, name = ?2, plugin = ?3, position = ?4, "         \
                   "on_failure = ?5, timeout_s = ?6, retries = ?7, enabled = ?8, "                 \
                   "version = version + 1, updated_at = ?9 WHERE id = ?10" RET)                    \
    X(TASK_DELETE, "DELETE FROM tasks WHERE id = ?1")                                              \
                                                                                                   \
    X(VAR_LIST, "SELECT " VAR_COLS " FROM vars v WHERE v.task_id = ?1 ORDER BY v.id")              \
    X(VAR_LIST_JOB, "SELECT " VAR_COLS " FROM vars v JOIN tasks t ON t.id = v.task_id "            \
                    "WHERE t.job_id = ?1 ORDER BY t.position, t.id, v.id")                         \
    X(VAR_GET, "SELECT " VAR_COLS " FROM vars v WHERE v.task_id = ?1 AND v.name = ?2")             \
    X(VAR_INSERT, "INSERT INTO vars(task_id, name, type, required, secret, custom, description, "  \
                  "value, vals, version, created_at, updated_at) "                                 \
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10, ?10)" RET)                  \
    X(VAR_UPDATE, "UPDATE vars SET task_id = ?1, name = ?2, type = ?3, required = ?4, "            \
                  "secret = ?5, custom = ?6, description = ?7, value = ?8, vals = ?9, "            \
                  "version = version + 1, updated_at = ?10 WHERE id = ?11" RET)                    \
    X(VAR_DELETE, "DELETE FROM vars WHERE id = ?1")                                                \
                                                                                                   \
    X(OVR_LIST_JOB, "SELECT " OVR_COLS " FROM overrides o JOIN vars v ON v.id = o.var_id "         \
                    "JOIN tasks t ON t.id = v.task_id WHERE t.job_id = ?1 ORDER BY o.id")          \
    X(OVR_LIST_VAR, "SELECT " OVR_COLS " FROM overrides o WHERE o.var_id = ?1 ORDER BY o.id")      \
    X(OVR_GET, "SELECT " OVR_COLS " FROM overrides o WHERE o.var_id = ?1 AND o.env_id = ?2")       \
    X(OVR_PUT, "INSERT INTO overrides(var_id, env_id, value, version, created_at, updated_at) "    \
               "VALUES (?1, ?2, ?3, 1, ?4, ?4) ON CONFLICT (var_id, env_id) DO UPDATE SET "        \
               "value = excluded.value, version = overrides.version + 1, "                         \
               "updated_at = excluded.updated_at" RET)                                             \
    X(OVR_DELETE, "DELETE FROM overrides WHERE id = ?1")                                           \
                                                                                                   \
    X(TOUCH_ENV, "UPDATE envs SET version = version + 1, updated_at = ?1 WHERE id = ?2")           \
    X(TOUCH_JOB, "UPDATE jobs SET version = version + 1, updated_at = ?1 WHERE id = ?2")           \
    X(TOUCH_TASK, "UPDATE tasks SET version = version + 1, updated_at = ?1 WHERE id = ?2")         \
    X(TOUCH_VAR, "UPDATE vars SET version = version + 1, updated_at = ?1 WHERE id = ?2")           \
    X(TOUCH_OVR, "UPDATE overrides SET version = version + 1, updated_at = ?1 WHERE id = ?2")      \
                                                                                                   \
    X(USER_GET, "SELECT " USER_COLS " FROM users WHERE name = ?1")                                 \
    X(USER_INSERT, "INSERT INTO users(name, role, password_hash, version, created_at, "            \
                   "updated_at) VALUES (?1, ?2, ?3, 1, ?4, ?4)" RET)                               \
    X(TOKEN_INSERT, "INSERT INTO tokens(name, user_id, hash, version, created_at, updated_at) "    \
                    "VALUES (?1, ?2, ?3, 1, ?4, ?4)" RET)                                          \
    X(TOKEN_FIND, "SELECT " TOKEN_COLS " FROM tokens WHERE hash = ?1")                             \
    X(USER_LIST, "SELECT " USER_COLS " FROM users ORDER BY name")                                  \
    X(USER_GET_ID, "SELECT " USER_COLS " FROM users WHERE id = ?1")                                \
    X(USER_UPDATE, "UPDATE users SET name = ?1, role = ?2, password_hash = ?3, "                   \
                   "failed_logins = ?5, locked_until = ?6, version = version + 1, "                \
                   "updated_at = ?4 WHERE id = ?7" RET)                                            \
    X(USER_DELETE, "DELETE FROM users WHERE id = ?1")                                              \
    X(TOKEN_LIST, "SELECT " TOKEN_USER_COLS " FROM tokens t JOIN users u ON u.id = t.user_id "     \
                  "ORDER BY t.id")                                                                 \
    X(TOKEN_GET, "SELECT " TOKEN_USER_COLS " FROM tokens t JOIN users u ON u.id = t.user_id "      \
                 "WHERE t.id = ?1")                                                                \
    X(TOKEN_DELETE, "DELETE FROM tokens WHERE id = ?1")                                            \
    X(SESSION_INSERT, "INSERT INTO sessions(hash, user_id, csrf_hash, expires_at, created_at) "    \
                      "VALUES (?1, ?2, ?3, ?4, ?5)")                                               \
    X(SESSION_FIND, "SELECT " SESSION_COLS " FROM sessions WHERE hash = ?1 AND expires_at > ?2")   \
    X(SESSION_DELETE, "DELETE FROM sessions WHERE id = ?1")                                        \
    X(SESSION_PURGE, "DELETE FROM sessions WHERE expires_at <= ?1")                                \
    X(AUDIT_INSERT, "INSERT INTO audit(ts, user, action, kind, name, detail) "                     \
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                             \
    X(AUDIT_LIST, "SELECT " AUDIT_COLS " FROM audit WHERE id < ?1 ORDER BY id DESC LIMIT ?2")      \
                                                                                                   \
    X(KV_GET, "SELECT value FROM kv WHERE key = ?1")                                               \
    X(KV_SET, "INSERT INTO kv(key, value, updated_at) VALUES (?1, ?2, ?3) ON CONFLICT (key) "      \
              "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at")            \
    X(SEQ_GET, "SELECT seq FROM changes WHERE id = 1")                                             \
    X(SEQ_BUMP, "UPDATE changes SET seq = seq + 1 WHERE id = 1")                                   \
                                                                                                   \
    X(RUN_INSERT, "INSERT INTO runs(job, environment, job_id, env_id, status, triggered_by, "      \
                  "rerun_of, started_at, finished_at, cancel_requested, owner, snapshot, tags, "   \
                  "version, created_at, updated_at) "                                              \
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?14, 1, ?13, ?13)"   \
                  RET)                                                                             \
    X(RUN_GET, "SELECT " RUN_COLS " FROM runs WHERE id = ?1")                                      \
    X(RUN_UPDATE, "UPDATE runs SET status = ?1, started_at = ?2, finished_at = ?3, "               \
                  "cancel_requested = ?4, owner = ?5, version = version + 1, updated_at = ?6, "    \
                  "lease_until = CASE WHEN ?1 = 'running' THEN lease_until END "                   \
                  "WHERE id = ?7 AND fence = ?8" RET)                                              \
    X(RUN_LIST_ANY, "SELECT " RUN_COLS " FROM runs WHERE " RUN_FILTER)                             \
    X(RUN_LIST_JOB, "SELECT " RUN_COLS " FROM runs WHERE job = ?1 AND " RUN_FILTER)                \
    X(RUN_LIST_ENV, "SELECT " RUN_COLS " FROM runs WHERE environment = ?2 AND " RUN_FILTER)        \
    X(RUN_LIST_ST, "SELECT " RUN_COLS " FROM runs WHERE status = ?3 AND " RUN_FILTER)              \
    X(RUN_LIST_STATUS, "SELECT " RUN_COLS " FROM runs WHERE status = ?1 ORDER BY id")              \
    X(RUN_STATE, "SELECT status, cancel_requested FROM runs WHERE id = ?1")                        \
    X(RUN_IDS, "SELECT id FROM runs WHERE status = ?1 ORDER BY id LIMIT ?2")                       \
    X(RUN_EXISTS, "SELECT 1 FROM runs WHERE id = ?1")                                              \
    /* ?4 'running', ?5 'queued': statuses are bound by name, like elsewhere;          \
     * ?6 the claimer's tags, a JSON array that must hold each of the run's. */                    \
    X(RUN_CLAIM, "UPDATE runs SET status = ?4, started_at = ?2, owner = ?1, fence = fence + 1, "   \
                 "lease_until = " NOW_MS " + ?3 * 1000, version = version + 1, updated_at = ?2 "   \
                 "WHERE id = (SELECT id FROM runs WHERE status = ?5 AND NOT EXISTS "               \
                 "(SELECT 1 FROM json_each(runs.tags) t WHERE t.value NOT IN "                     \
                 "(SELECT value FROM json_each(?6))) ORDER BY id LIMIT 1) RETURNING id, fence")    \
    X(RUN_RENEW, "UPDATE runs SET lease_until = " NOW_MS " + ?3 * 1000 "                           \
                 "WHERE id = ?1 AND fence = ?2 AND status = ?4")                                   \
    X(RUN_REVOKE, "UPDATE runs SET fence = fence + 1, lease_until = NULL "                         \
                  "WHERE id = ?1 AND fence = ?2 AND status = ?3 AND "                              \
                  "(?4 = 0 OR lease_until IS NULL OR lease_until < " NOW_MS ") RETURNING fence")   \
    X(RUN_EXPIRED, "SELECT id FROM runs WHERE status = ?1 AND "                                    \
                   "(lease_until IS NULL OR lease_until < " NOW_MS ") ORDER BY id LIMIT ?2")       \
                                                                                                   \
    X(WORKER_BEAT, "INSERT INTO workers(name, kind, tags, concurrency, active, lease_s, "          \
                   "started_at, draining, seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "       \
                   NOW_MS ") "                                                                     \
                   "ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, tags = excluded.tags, " \
                   "concurrency = excluded.concurrency, active = excluded.active, "                \
                   "lease_s = excluded.lease_s, started_at = excluded.started_at, "                \
                   "draining = excluded.draining, seen_at = excluded.seen_at")                     \
    X(WORKER_PRUNE, "DELETE FROM workers WHERE seen_at < " NOW_MS " - 3600000")                    \
    X(WORKER_GONE, "DELETE FROM workers WHERE name = ?1")                                          \
    X(WORKER_LIST, "SELECT id, name, kind, tags, concurrency, active, lease_s, started_at, "       \
                   NOW_MS " - seen_at, draining FROM workers ORDER BY name")                       \
    X(WORKER_RUNS, "SELECT id, owner, COALESCE(lease_until, 0) FROM runs "                        \
                   "WHERE status = ?1 AND owner IS NOT NULL ORDER BY id")                          \
                                                                                                   \
    X(RESULT_INSERT, "INSERT INTO task_results(run_id, idx, name, status, attempts, exit_code, "   \
                     "error, started_at, finished_at, outputs) "                                   \
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                           \
    X(RESULT_UPDATE,                                                                               \
      "UPDATE task_results SET status = ?4, attempts = ?5, exit_code = ?6, "                       \
      "error = ?7, started_at = ?8, finished_at = ?9, outputs = ?10 WHERE id = ?11 AND "           \
      "EXISTS (SELECT 1 FROM runs WHERE runs.id = task_results.run_id AND runs.fence = ?12)")      \
    X(RESULT_EXISTS, "SELECT 1 FROM task_results WHERE id = ?1")                                   \
    X(RESULT_LIST, "SELECT " RESULT_COLS " FROM task_results WHERE run_id = ?1 ORDER BY idx")      \
                                                                                                   \
    X(LOG_APPEND, "INSERT INTO log_chunks(run_id, task_idx, stream, ts, data) "                    \
                  "SELECT ?1, ?2, ?3, ?4, ?5 WHERE ?6 = 0 OR "                                     \
                  "EXISTS (SELECT 1 FROM runs WHERE id = ?1 AND fence = ?6)")                      \
    X(LOG_READ, "SELECT " LOG_COLS " FROM log_chunks WHERE run_id = ?1 AND seq > ?2 ORDER BY seq")

enum stmt {
#define X(name, sql) ST_##name,
    STMT_MAP(X)
#undef X
        ST_COUNT
};

static const char *const stmt_sql[] = {
#define X(name, sql) sql,
    STMT_MAP(X)
#undef X
};

/* The statement and the noun of each enum store_kind. */
static const struct {
    enum stmt touch;
    const char *noun;
} kinds[] = {
    [KIND_ENV] = {ST_TOUCH_ENV, "environment"},   [KIND_JOB] = {ST_TOUCH_JOB, "job"},
    [KIND_TASK] = {ST_TOUCH_TASK, "task"},        [KIND_VAR] = {ST_TOUCH_VAR, "variable"},
    [KIND_OVERRIDE] = {ST_TOUCH_OVR, "override"},
};

/* The backend context. The public struct store lives inside it, so that
 * close(ctx) releases both. */
/* The WAL-index header (https://sqlite.org/walformat.html): two copies of
 * 48 bytes at the start of the shared memory that every connection to the
 * database, in any process, maps; see wal_header. */
#define WAL_HDR_SIZE     48
#define WAL_HDR_VERSION  3007000u /* its iVersion field */
#define WAL_INDEX_REGION 32768    /* SQLite's size of a shared memory region */

struct sqlite_store {
    struct store base;
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    int64_t changes_at_begin; /* sqlite3_total_changes64 when the tx began */
    bool wal;                 /* in WAL mode: wal_header may look */
    /* The last change sequence read outside a transaction (seq_val), and
     * the WAL-index header seen just before it was read (seq_hdr); valid
     * when seq_known. */
    bool seq_known;
    int64_t seq_val;
    unsigned char seq_hdr[WAL_HDR_SIZE];
};

/* --- helpers ----------------------------------------------------------- */

/* Maps a SQLite result code to a dmt status, with the detail in err. */
static int fail(struct sqlite_store *c, int rc, struct dmt_err *err) {
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return dmt_err_set(err, DMT_ERR_BUSY, "the database is busy: %s", sqlite3_errmsg(c->db));
    case SQLITE_NOMEM:
        return dmt_err_set(err, DMT_ERR_NOMEM, "sqlite: out of memory");
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            return dmt_err_set(err, DMT_ERR_CONFLICT, "already exists: %s", sqlite3_errmsg(c->db));
        /* A parent deleted by a concurrent request, or an id that never
         * existed: the caller asked about something that is not there. */
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            return dmt_err_set(err, DMT_ERR_NOT_FOUND, "what this refers to does not exist");
        break;
    default:
        break;
    }
    return dmt_err_set(err, DMT_ERR_STORE, "sqlite: %s", sqlite3_errmsg(c->db));
}

/*
 * Like fail(), but names what is taken when rc is a unique violation
 * (conflict_fmt, given name) and the missing parent on a foreign key one.
 */
static int write_fail(struct sqlite_store *c, int rc, struct dmt_err *err, const char *parent,
                      const char *conflict_fmt, const char *name)
    __attribute__((format(printf, 5, 0)));
static int write_fail(struct sqlite_store *c, int rc, struct dmt_err *err, const char *parent,
                      const char *conflict_fmt, const char *name) {
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        char msg[400];
        snprintf(msg, sizeof(msg), conflict_fmt, name);
        return dmt_err_set(err, DMT_ERR_CONFLICT, "%s", msg);
    }
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY && parent != NULL)
        return dmt_err_set(err, DMT_ERR_NOT_FOUND, "the %s it belongs to does not exist", parent);
    return fail(c, rc, err);
}

/* Returns the cached statement id, preparing it on first use. */
static int prep(struct sqlite_store *c, enum stmt id, sqlite3_stmt **out, struct dmt_err *err) {
    if (c->st[id] == NULL) {
        int rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->st[id],
                                    NULL);
        if (rc != SQLITE_OK) {
            c->st[id] = NULL;
            return fail(c, rc, err);
        }
    }
    *out = c->st[id];
    return DMT_OK;
}

/* Makes a statement ready for its next use and drops borrowed bindings. */
static void finish(sqlite3_stmt *st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static void bind_str(sqlite3_stmt *st, int i, const char *s) {
    sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Binds a JSON value as compact text, or SQL NULL when v is NULL. */
static int bind_json(sqlite3_stmt *st, int i, const json_t *v, struct dmt_err *err) {
    if (v == NULL) return sqlite3_bind_null(st, i) == SQLITE_OK ? DMT_OK : DMT_ERR_STORE;
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s == NULL) return dmt_err_set(err, DMT_ERR_NOMEM, "cannot encode a JSON value");
    /* SQLite owns s from here on, even if binding fails. */
    sqlite3_bind_text(st, i, s, -1, free);
    return DMT_OK;
}

/* Binds a time, or SQL NULL for "" (a moment not reached yet). */
static void bind_time(sqlite3_stmt *st, int i, const char *s) {
    if (s[0] == '\0')
        sqlite3_bind_null(st, i);
    else
        bind_str(st, i, s);
}

static void copy_text(sqlite3_stmt *st, int i, char *out, size_t len) {
    const char *s = (const char *)sqlite3_column_text(st, i);
    snprintf(out, len, "%s", s != NULL ? s : "");
}

/* A malloc'd copy of a text column; NULL stays NULL. */
static char *col_str(sqlite3_stmt *st, int i) {
    return util_strdup((const char *)sqlite3_column_text(st, i));
}

/* A malloc'd copy of a text column that is never NULL in the model. */
static char *col_str0(sqlite3_stmt *st, int i) {
    const char *s = (const char *)sqlite3_column_text(st, i);
    return util_strdup(s != NULL ? s : "");
}

/* Parses a JSON text column into *out (NULL for SQL NULL). */
static int col_json(sqlite3_stmt *st, int i, json_t **out, struct dmt_err *err) {
    *out = NULL;
    const char *s = (const char *)sqlite3_column_text(st, i);
    if (s == NULL) return DMT_OK;
    json_error_t je;
    *out = json_loads(s, JSON_DECODE_ANY, &je);
    if (*out == NULL)
        return dmt_err_set(err, DMT_ERR_STORE, "stored JSON is malformed (%s): %s",
                           sqlite3_column_name(st, i), je.text);
    return DMT_OK;
}

static void read_meta(sqlite3_stmt *st, struct meta *m) {
    m->id = sqlite3_column_int64(st, 0);
    m->version = sqlite3_column_int64(st, 1);
    copy_text(st, 2, m->created_at, sizeof(m->created_at));
    copy_text(st, 3, m->updated_at, sizeof(m->updated_at));
}

/*
 * Steps a query expected to give at most one row. Returns DMT_OK with the
 * statement on its row, DMT_ERR_NOT_FOUND without a message when there is
 * none, or a mapped error.
 */
static int step_one(struct sqlite_store *c, sqlite3_stmt *st, struct dmt_err *err) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) return DMT_OK;
    if (rc == SQLITE_DONE) return DMT_ERR_NOT_FOUND;
    return fail(c, rc, err);
}

/*
 * Runs a write with "RETURNING id, version, created_at, updated_at" to its
 * end. Fills *m on DMT_OK; DMT_ERR_NOT_FOUND without a message when no row
 * was written. Failures are mapped by write_fail().
 */
static int step_write(struct sqlite_store *c, sqlite3_stmt *st, struct meta *m, struct dmt_err *err,
                      const char *parent, const char *conflict_fmt, const char *name)
    __attribute__((format(printf, 6, 0)));
static int step_write(struct sqlite_store *c, sqlite3_stmt *st, struct meta *m, struct dmt_err *err,
                      const char *parent, const char *conflict_fmt, const char *name) {
    struct meta got;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) return DMT_ERR_NOT_FOUND;
    if (rc != SQLITE_ROW) return write_fail(c, rc, err, parent, conflict_fmt, name);
    read_meta(st, &got);
    /* The change is made by the first step; stepping to the end makes an
     * autocommit statement commit now and report a failure of it here. */
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) return fail(c, rc, err);
    *m = got;
    return DMT_OK;
}

/*
 * Runs an INSERT without RETURNING to its end and gives the rowid of the
 * new row in *id (on DMT_OK only). Failures are mapped by write_fail().
 */
static int step_insert(struct sqlite_store *c, sqlite3_stmt *st, int64_t *id, struct dmt_err *err,
                       const char *parent, const char *conflict_fmt, const char *name)
    __attribute__((format(printf, 6, 0)));
static int step_insert(struct sqlite_store *c, sqlite3_stmt *st, int64_t *id, struct dmt_err *err,
                       const char *parent, const char *conflict_fmt, const char *name) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) return write_fail(c, rc, err, parent, conflict_fmt, name);
    *id = sqlite3_last_insert_rowid(c->db);
    return DMT_OK;
}

/* Runs a statement that returns no rows; *changes gets the rows changed. */
static int step_exec(struct sqlite_store *c, sqlite3_stmt *st, int *changes, struct dmt_err *err) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) return fail(c, rc, err);
    if (changes != NULL) *changes = sqlite3_changes(c->db);
    return DMT_OK;
}

/* Deletes the row `id` with statement sid; NOT_FOUND names the noun. */
static int delete_by_id(struct sqlite_store *c, enum stmt sid, const char *noun, int64_t id,
                        struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int changes = 0;
    int rc = prep(c, sid, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = step_exec(c, st, &changes, err);
    finish(st);
    if (rc == DMT_OK && changes == 0)
        rc = dmt_err_set(err, DMT_ERR_NOT_FOUND, "no %s with id %lld", noun, (long long)id);
    return rc;
}

/* --- row readers: fill *out on DMT_OK only ----------------------------- */

static int read_env(sqlite3_stmt *st, struct env *out, struct dmt_err *err) {
    struct env e = {0};
    read_meta(st, &e.m);
    e.name = col_str0(st, 4);
    e.description = col_str0(st, 5);
    e.position = sqlite3_column_int(st, 6);
    e.protected_ = sqlite3_column_int(st, 7) != 0;
    int rc = col_json(st, 8, &e.grants, err);
    if (rc == DMT_OK && e.grants == NULL) e.grants = json_array();
    if (rc == DMT_OK) rc = col_json(st, 9, &e.worker_tags, err);
    if (rc == DMT_OK && e.worker_tags == NULL) e.worker_tags = json_array();
    if (rc != DMT_OK) {
        env_cleanup(&e);
        return rc;
    }
    *out = e;
    return DMT_OK;
}

static int read_job(sqlite3_stmt *st, struct job *out, struct dmt_err *err) {
    struct job j = {0};
    read_meta(st, &j.m);
    j.name = col_str0(st, 4);
    j.description = col_str0(st, 5);
    *out = j;
    return DMT_OK;
}

static int read_task(sqlite3_stmt *st, struct task *out, struct dmt_err *err) {
    struct task t = {0};
    read_meta(st, &t.m);
    t.job_id = sqlite3_column_int64(st, 4);
    t.name = col_str0(st, 5);
    t.plugin = col_str0(st, 6);
    t.position = sqlite3_column_int(st, 7);
    int f = on_failure_parse((const char *)sqlite3_column_text(st, 8));
    t.on_failure = f < 0 ? ON_FAILURE_STOP : f;
    t.timeout_s = sqlite3_column_int(st, 9);
    t.retries = sqlite3_column_int(st, 10);
    t.enabled = sqlite3_column_int(st, 11) != 0;
    *out = t;
    return DMT_OK;
}

static int read_var(sqlite3_stmt *st, struct var *out, struct dmt_err *err) {
    struct var v = {0};
    int rc;
    read_meta(st, &v.m);
    v.task_id = sqlite3_column_int64(st, 4);
    v.name = col_str0(st, 5);
    v.type = var_type_parse((const char *)sqlite3_column_text(st, 6));
    v.required = sqlite3_column_int(st, 7) != 0;
    v.secret = sqlite3_column_int(st, 8) != 0;
    v.custom = sqlite3_column_int(st, 9) != 0;
    v.description = col_str0(st, 10);
    if (v.type < 0) {
        rc = dmt_err_set(err, DMT_ERR_STORE, "variable %lld has an unknown type '%s'",
                         (long long)v.m.id, (const char *)sqlite3_column_text(st, 6));
        goto out;
    }
    rc = col_json(st, 11, &v.value, err);
    if (rc != DMT_OK) goto out;
    rc = col_json(st, 12, &v.values, err);
out:
    if (rc != DMT_OK) {
        var_cleanup(&v);
        return rc;
    }
    *out = v;
    return DMT_OK;
}

static int read_override(sqlite3_stmt *st, struct override *out, struct dmt_err *err) {
    struct override o = {0};
    read_meta(st, &o.m);
    o.var_id = sqlite3_column_int64(st, 4);
    o.env_id = sqlite3_column_int64(st, 5);
    int rc = col_json(st, 6, &o.value, err);
    if (rc == DMT_OK && o.value == NULL) o.value = json_null();
    if (rc != DMT_OK) return rc;
    *out = o;
    return DMT_OK;
}

static int read_user(sqlite3_stmt *st, struct user *out, struct dmt_err *err) {
    struct user u = {0};
    read_meta(st, &u.m);
    u.name = col_str0(st, 4);
    u.role = col_str0(st, 5);
    u.password_hash = col_str(st, 6);
    u.failed_logins = sqlite3_column_int(st, 7);
    u.locked_until = sqlite3_column_int64(st, 8);
    *out = u;
    return DMT_OK;
}

static int read_token(sqlite3_stmt *st, struct token *out, struct dmt_err *err) {
    struct token t = {0};
    read_meta(st, &t.m);
    t.name = col_str0(st, 4);
    t.user_id = sqlite3_column_int64(st, 5);
    t.hash = col_str0(st, 6);
    if (sqlite3_column_count(st) > 7) t.user = col_str0(st, 7);
    *out = t;
    return DMT_OK;
}

static int read_session(sqlite3_stmt *st, struct session *out, struct dmt_err *err) {
    struct session s = {0};
    s.id = sqlite3_column_int64(st, 0);
    s.hash = col_str0(st, 1);
    s.user_id = sqlite3_column_int64(st, 2);
    s.csrf_hash = col_str0(st, 3);
    s.expires_at = sqlite3_column_int64(st, 4);
    *out = s;
    return DMT_OK;
}

static int read_audit_entry(sqlite3_stmt *st, struct audit_entry *out, struct dmt_err *err) {
    struct audit_entry a = {0};
    a.id = sqlite3_column_int64(st, 0);
    copy_text(st, 1, a.ts, sizeof(a.ts));
    a.user = col_str0(st, 2);
    a.action = col_str0(st, 3);
    a.kind = col_str0(st, 4);
    a.name = col_str0(st, 5);
    int rc = col_json(st, 6, &a.detail, err);
    if (rc != DMT_OK) {
        audit_entry_cleanup(&a);
        return rc;
    }
    if (a.detail == NULL) a.detail = json_object();
    *out = a;
    return DMT_OK;
}

/* Log streams are stored by name, like the other enumerations. */
static const char *const stream_names[] = {
    [LOG_STDOUT] = "stdout",
    [LOG_STDERR] = "stderr",
    [LOG_SYSTEM] = "system",
};
#define N_STREAMS ((int)(sizeof(stream_names) / sizeof(stream_names[0])))

static int stream_parse(const char *s) {
    for (int i = 0; s != NULL && i < N_STREAMS; i++)
        if (strcmp(s, stream_names[i]) == 0) return i;
    return -1;
}

static bool run_status_ok(int s) { return s >= 0 && run_status_parse(run_status_name(s)) == s; }

static bool result_status_ok(int s) {
    return s >= 0 && result_status_parse(result_status_name(s)) == s;
}

static int read_run(sqlite3_stmt *st, struct run *out, struct dmt_err *err) {
    struct run r = {0};
    int rc = DMT_OK;
    read_meta(st, &r.m);
    r.job = col_str0(st, 4);
    r.environment = col_str0(st, 5);
    r.job_id = sqlite3_column_int64(st, 6);
    r.env_id = sqlite3_column_int64(st, 7);
    r.status = run_status_parse((const char *)sqlite3_column_text(st, 8));
    r.triggered_by = col_str0(st, 9);
    r.rerun_of = sqlite3_column_int64(st, 10); /* NULL reads as 0: none */
    copy_text(st, 11, r.started_at, sizeof(r.started_at));
    copy_text(st, 12, r.finished_at, sizeof(r.finished_at));
    r.cancel_requested = sqlite3_column_int(st, 13) != 0;
    r.owner = col_str(st, 14);
    r.fence = sqlite3_column_int64(st, 16);
    r.lease_until = sqlite3_column_int64(st, 17);
    if (r.status < 0) {
        rc = dmt_err_set(err, DMT_ERR_STORE, "run %lld has an unknown status '%s'",
                         (long long)r.m.id, (const char *)sqlite3_column_text(st, 8));
        goto out;
    }
    rc = col_json(st, 15, &r.snapshot, err);
    if (rc == DMT_OK) rc = col_json(st, 18, &r.tags, err);
    if (rc == DMT_OK && r.snapshot == NULL)
        rc = dmt_err_set(err, DMT_ERR_STORE, "run %lld has no snapshot", (long long)r.m.id);
out:
    if (rc != DMT_OK) {
        run_cleanup(&r);
        return rc;
    }
    *out = r;
    return DMT_OK;
}

static int read_task_result(sqlite3_stmt *st, struct task_result *out, struct dmt_err *err) {
    struct task_result t = {0};
    int rc = DMT_OK;
    t.id = sqlite3_column_int64(st, 0);
    t.run_id = sqlite3_column_int64(st, 1);
    t.idx = sqlite3_column_int(st, 2);
    t.name = col_str0(st, 3);
    t.status = result_status_parse((const char *)sqlite3_column_text(st, 4));
    t.attempts = sqlite3_column_int(st, 5);
    t.exit_code = sqlite3_column_int(st, 6);
    t.error = col_str(st, 7);
    copy_text(st, 8, t.started_at, sizeof(t.started_at));
    copy_text(st, 9, t.finished_at, sizeof(t.finished_at));
    if (t.status < 0) {
        rc = dmt_err_set(err, DMT_ERR_STORE, "task result %lld has an unknown status '%s'",
                         (long long)t.id, (const char *)sqlite3_column_text(st, 4));
        goto out;
    }
    rc = col_json(st, 10, &t.outputs, err);
    if (rc == DMT_OK && t.outputs == NULL) t.outputs = json_object();
    t.fence = sqlite3_column_int64(st, 11);
out:
    if (rc != DMT_OK) {
        task_result_cleanup(&t);
        return rc;
    }
    *out = t;
    return DMT_OK;
}

static int read_log_chunk(sqlite3_stmt *st, struct log_chunk *out, struct dmt_err *err) {
    struct log_chunk ch = {0};
    ch.seq = sqlite3_column_int64(st, 0);
    ch.run_id = sqlite3_column_int64(st, 1);
    ch.task_idx = sqlite3_column_int(st, 2);
    ch.stream = stream_parse((const char *)sqlite3_column_text(st, 3));
    if (ch.stream < 0)
        return dmt_err_set(err, DMT_ERR_STORE, "log chunk %lld has an unknown stream '%s'",
                           (long long)ch.seq, (const char *)sqlite3_column_text(st, 3));
    copy_text(st, 4, ch.ts, sizeof(ch.ts));
    /* sqlite3_column_bytes after sqlite3_column_blob, as SQLite asks; an
     * empty blob comes back as NULL. */
    const void *p = sqlite3_column_blob(st, 5);
    size_t len = (size_t)sqlite3_column_bytes(st, 5);
    if (p == NULL && len > 0) return dmt_err_set(err, DMT_ERR_NOMEM, "sqlite: out of memory");
    /* One byte more for a terminating NUL, a convenience for text logs. */
    ch.data = malloc(len + 1);
    if (ch.data == NULL) return dmt_err_set(err, DMT_ERR_NOMEM, "out of memory");
    if (len > 0) memcpy(ch.data, p, len);
    ch.data[len] = '\0';
    ch.len = len;
    *out = ch;
    return DMT_OK;
}

/*
 * rows_<type>: reads every row of a bound statement into *out (replacing
 * it on DMT_OK) and finishes the statement.
 */
#define ROWS_FUNC(type)                                                                            \
    static int rows_##type(struct sqlite_store *c, sqlite3_stmt *st, struct type##_list *out,      \
                           struct dmt_err *err) {                                                  \
        struct type##_list l = {0};                                                                \
        int src, rc = DMT_OK;                                                                      \
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {                                           \
            rc = read_##type(st, type##_list_push(&l), err);                                       \
            if (rc != DMT_OK) break;                                                               \
        }                                                                                          \
        if (rc == DMT_OK && src != SQLITE_DONE) rc = fail(c, src, err);                            \
        finish(st);                                                                                \
        if (rc != DMT_OK) {                                                                        \
            type##_list_cleanup(&l);                                                               \
            return rc;                                                                             \
        }                                                                                          \
        *out = l;                                                                                  \
        return DMT_OK;                                                                             \
    }
ROWS_FUNC(env)
ROWS_FUNC(job)
ROWS_FUNC(task)
ROWS_FUNC(var)
ROWS_FUNC(override)
ROWS_FUNC(run)
ROWS_FUNC(task_result)
ROWS_FUNC(user)
ROWS_FUNC(token)
ROWS_FUNC(audit_entry)

/* --- transactions ------------------------------------------------------ */

static int run_simple(struct sqlite_store *c, enum stmt sid, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(c, sid, &st, err);
    if (rc != DMT_OK) return rc;
    rc = step_exec(c, st, NULL, err);
    finish(st);
    return rc;
}

static int sq_begin(void *ctx, bool write, struct dmt_err *err) {
    struct sqlite_store *c = ctx;
    c->changes_at_begin = sqlite3_total_changes64(c->db);
    return run_simple(ctx, write ? ST_BEGIN_WRITE : ST_BEGIN_READ, err);
}

static int sq_commit(void *ctx, struct dmt_err *err) { return run_simple(ctx, ST_COMMIT, err); }

static bool sq_in_tx(void *ctx) {
    struct sqlite_store *c = ctx;
    return sqlite3_get_autocommit(c->db) == 0;
}

static void sq_rollback(void *ctx) {
    struct sqlite_store *c = ctx;
    struct dmt_err err;
    if (!sq_in_tx(c)) return;
    dmt_err_init(&err);
    if (run_simple(c, ST_ROLLBACK, &err) != DMT_OK) log_error("sqlite rollback: %s", err.msg);
    dmt_err_cleanup(&err);
}

/* --- environments ------------------------------------------------------ */

static int sq_env_list(void *ctx, struct env_list *out, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_ENV_LIST, &st, err);
    if (rc != DMT_OK) return rc;
    return rows_env(ctx, st, out, err);
}

static int sq_env_get(void *ctx, const char *name, struct env *out, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_ENV_GET, &st, err);
    if (rc != DMT_OK) return rc;
    bind_str(st, 1, name);
    rc = step_one(ctx, st, err);
    if (rc == DMT_OK) rc = read_env(st, out, err);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) dmt_err_set(err, rc, "no environment named '%s'", name);
    return rc;
}

static int env_write(struct sqlite_store *c, enum stmt sid, struct env *e, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    char now[32];
    int rc = prep(c, sid, &st, err);
    if (rc != DMT_OK) return rc;
    util_now_rfc3339(now, sizeof(now));
    bind_str(st, 1, e->name);
    bind_str(st, 2, e->description != NULL ? e->description : "");
    sqlite3_bind_int(st, 3, e->position);
    sqlite3_bind_int(st, 4, e->protected_ ? 1 : 0);
    if (e->grants != NULL)
        rc = bind_json(st, 5, e->grants, err);
    else
        bind_str(st, 5, "[]");
    bind_str(st, 6, now);
    if (rc == DMT_OK && e->worker_tags != NULL)
        rc = bind_json(st, 7, e->worker_tags, err);
    else if (rc == DMT_OK)
        bind_str(st, 7, "[]");
    if (sid == ST_ENV_UPDATE) sqlite3_bind_int64(st, 8, e->m.id);
    if (rc == DMT_OK)
        rc = step_write(c, st, &e->m, err, NULL, "an environment named '%s' already exists",
                        e->name);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND)
        dmt_err_set(err, rc, "no environment with id %lld", (long long)e->m.id);
    return rc;
}

static int sq_env_insert(void *ctx, struct env *e, struct dmt_err *err) {
    return env_write(ctx, ST_ENV_INSERT, e, err);
}

static int sq_env_update(void *ctx, struct env *e, struct dmt_err *err) {
    return env_write(ctx, ST_ENV_UPDATE, e, err);
}

static int sq_env_delete(void *ctx, int64_t id, struct dmt_err *err) {
    return delete_by_id(ctx, ST_ENV_DELETE, "environment", id, err);
}

/* --- jobs -------------------------------------------------------------- */

static int sq_job_list(void *ctx, struct job_list *out, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_JOB_LIST, &st, err);
    if (rc != DMT_OK) return rc;
    return rows_job(ctx, st, out, err);
}

static int sq_job_get(void *ctx, const char *name, struct job *out, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_JOB_GET, &st, err);
    if (rc != DMT_OK) return rc;
    bind_str(st, 1, name);
    rc = step_one(ctx, st, err);
    if (rc == DMT_OK) rc = read_job(st, out, err);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) dmt_err_set(err, rc, "no job named '%s'", name);
    return rc;
}

static int job_write(struct sqlite_store *c, enum stmt sid, struct job *j, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    char now[32];
    int rc = prep(c, sid, &st, err);
    if (rc != DMT_OK) return rc;
    util_now_rfc3339(now, sizeof(now));
    bind_str(st, 1, j->name);
    bind_str(st, 2, j->description != NULL ? j->description : "");
    bind_str(st, 3, now);
    if (sid == ST_JOB_UPDATE) sqlite3_bind_int64(st, 4, j->m.id);
    rc = step_write(c, st, &j->m, err, NULL, "a job named '%s' already exists", j->name);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) dmt_err_set(err, rc, "no job with id %lld", (long long)j->m.id);
    return rc;
}

static int sq_job_insert(void *ctx, struct job *j, struct dmt_err *err) {
    return job_write(ctx, ST_JOB_INSERT, j, err);
}

static int sq_job_update(void *ctx, struct job *j, struct dmt_err *err) {
    return job_write(ctx, ST_JOB_UPDATE, j, err);
}

static int sq_job_delete(void *ctx, int64_t id, struct dmt_err *err) {
    return delete_by_id(ctx, ST_JOB_DELETE, "job", id, err);
}

/* --- tasks ------------------------------------------------------------- */

static int sq_task_list(void *ctx, int64_t job_id, struct task_list *out, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_TASK_LIST, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, job_id);
    return rows_task(ctx, st, out, err);
}

static int sq_task_get(void *ctx, int64_t job_id, const char *name, struct task *out,
                       struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_TASK_GET, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, job_id);
    bind_str(st, 2, name);
    rc = step_one(ctx, st, err);
    if (rc == DMT_OK) rc = read_task(st, out, err);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) dmt_err_set(err, rc, "no task named '%s' in this job", name);
    return rc;
}

static int task_write(struct sqlite_store *c, enum stmt sid, struct task *t, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    char now[32];
    int rc = prep(c, sid, &st, err);
    if (rc != DMT_OK) return rc;
    util_now_rfc3339(now, sizeof(now));
    sqlite3_bind_int64(st, 1, t->job_id);
    bind_str(st, 2, t->name);
    bind_str(st, 3, t->plugin);
    sqlite3_bind_int(st, 4, t->position);
    bind_str(st, 5, on_failure_name(t->on_failure));
    sqlite3_bind_int(st, 6, t->timeout_s);
    sqlite3_bind_int(st, 7, t->retries);
    sqlite3_bind_int(st, 8, t->enabled ? 1 : 0);
    bind_str(st, 9, now);
    if (sid == ST_TASK_UPDATE) sqlite3_bind_int64(st, 10, t->m.id);
    rc = step_write(c, st, &t->m, err, "job", "a task named '%s' already exists in this job",
                    t->name);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) dmt_err_set(err, rc, "no task with id %lld", (long long)t->m.id);
    return rc;
}

static int sq_task_insert(void *ctx, struct task *t, struct dmt_err *err) {
    return task_write(ctx, ST_TASK_INSERT, t, err);
}

static int sq_task_update(void *ctx, struct task *t, struct dmt_err *err) {
    return task_write(ctx, ST_TASK_UPDATE, t, err);
}

static int sq_task_delete(void *ctx, int64_t id, struct dmt_err *err) {
    return delete_by_id(ctx, ST_TASK_DELETE, "task", id, err);
}

/* --- variables --------------------------------------------------------- */

static int sq_var_list(void *ctx, int64_t task_id, struct var_list *out, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_VAR_LIST, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, task_id);
    return rows_var(ctx, st, out, err);
}

static int sq_var_list_job(void *ctx, int64_t job_id, struct var_list *out, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_VAR_LIST_JOB, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, job_id);
    return rows_var(ctx, st, out, err);
}

static int sq_var_get(void *ctx, int64_t task_id, const char *name, struct var *out,
                      struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_VAR_GET, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, task_id);
    bind_str(st, 2, name);
    rc = step_one(ctx, st, err);
    if (rc == DMT_OK) rc = read_var(st, out, err);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) dmt_err_set(err, rc, "no variable named '%s' in this task", name);
    return rc;
}

static int var_write(struct sqlite_store *c, enum stmt sid, struct var *v, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    char now[32];
    int rc = prep(c, sid, &st, err);
    if (rc != DMT_OK) return rc;
    util_now_rfc3339(now, sizeof(now));
    sqlite3_bind_int64(st, 1, v->task_id);
    bind_str(st, 2, v->name);
    bind_str(st, 3, var_type_name(v->type));
    sqlite3_bind_int(st, 4, v->required ? 1 : 0);
    sqlite3_bind_int(st, 5, v->secret ? 1 : 0);
    sqlite3_bind_int(st, 6, v->custom ? 1 : 0);
    bind_str(st, 7, v->description != NULL ? v->description : "");
    rc = bind_json(st, 8, v->value, err);
    if (rc == DMT_OK) rc = bind_json(st, 9, v->values, err);
    bind_str(st, 10, now);
    if (sid == ST_VAR_UPDATE) sqlite3_bind_int64(st, 11, v->m.id);
    if (rc == DMT_OK)
        rc = step_write(c, st, &v->m, err, "task",
                        "a variable named '%s' already exists in this task", v->name);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND)
        dmt_err_set(err, rc, "no variable with id %lld", (long long)v->m.id);
    return rc;
}

static int sq_var_insert(void *ctx, struct var *v, struct dmt_err *err) {
    return var_write(ctx, ST_VAR_INSERT, v, err);
}

static int sq_var_update(void *ctx, struct var *v, struct dmt_err *err) {
    return var_write(ctx, ST_VAR_UPDATE, v, err);
}

static int sq_var_delete(void *ctx, int64_t id, struct dmt_err *err) {
    return delete_by_id(ctx, ST_VAR_DELETE, "variable", id, err);
}

/* --- overrides --------------------------------------------------------- */

static int sq_override_list_job(void *ctx, int64_t job_id, struct override_list *out,
                                struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_OVR_LIST_JOB, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, job_id);
    return rows_override(ctx, st, out, err);
}

static int sq_override_list_var(void *ctx, int64_t var_id, struct override_list *out,
                                struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_OVR_LIST_VAR, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, var_id);
    return rows_override(ctx, st, out, err);
}

static int sq_override_get(void *ctx, int64_t var_id, int64_t env_id, struct override *out,
                           struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_OVR_GET, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, var_id);
    sqlite3_bind_int64(st, 2, env_id);
    rc = step_one(ctx, st, err);
    if (rc == DMT_OK) rc = read_override(st, out, err);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND)
        dmt_err_set(err, rc, "this variable has no override for this environment");
    return rc;
}

static int sq_override_put(void *ctx, struct override *o, struct dmt_err *err) {
    struct sqlite_store *c = ctx;
    sqlite3_stmt *st = NULL;
    char now[32];
    if (o->value == NULL) return dmt_err_set(err, DMT_ERR_INTERNAL, "an override needs a value");
    int rc = prep(c, ST_OVR_PUT, &st, err);
    if (rc != DMT_OK) return rc;
    util_now_rfc3339(now, sizeof(now));
    sqlite3_bind_int64(st, 1, o->var_id);
    sqlite3_bind_int64(st, 2, o->env_id);
    rc = bind_json(st, 3, o->value, err);
    bind_str(st, 4, now);
    if (rc == DMT_OK)
        rc = step_write(c, st, &o->m, err, "variable or environment",
                        "this override already exists", NULL);
    finish(st);
    return rc;
}

static int sq_override_delete(void *ctx, int64_t id, struct dmt_err *err) {
    return delete_by_id(ctx, ST_OVR_DELETE, "override", id, err);
}

/* --- touch ------------------------------------------------------------- */

static int sq_touch(void *ctx, enum store_kind kind, int64_t id, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    char now[32];
    int changes = 0;
    dmt_assert((int)kind >= 0 && (size_t)kind < sizeof(kinds) / sizeof(kinds[0]));
    int rc = prep(ctx, kinds[kind].touch, &st, err);
    if (rc != DMT_OK) return rc;
    util_now_rfc3339(now, sizeof(now));
    bind_str(st, 1, now);
    sqlite3_bind_int64(st, 2, id);
    rc = step_exec(ctx, st, &changes, err);
    finish(st);
    if (rc == DMT_OK && changes == 0)
        rc = dmt_err_set(err, DMT_ERR_NOT_FOUND, "no %s with id %lld", kinds[kind].noun,
                         (long long)id);
    return rc;
}

/* --- users and tokens -------------------------------------------------- */

static int sq_user_get(void *ctx, const char *name, struct user *out, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_USER_GET, &st, err);
    if (rc != DMT_OK) return rc;
    bind_str(st, 1, name);
    rc = step_one(ctx, st, err);
    if (rc == DMT_OK) rc = read_user(st, out, err);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) dmt_err_set(err, rc, "no user named '%s'", name);
    return rc;
}

static int sq_user_insert(void *ctx, struct user *u, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    char now[32];
    int rc = prep(ctx, ST_USER_INSERT, &st, err);
    if (rc != DMT_OK) return rc;
    util_now_rfc3339(now, sizeof(now));
    bind_str(st, 1, u->name);
    bind_str(st, 2, u->role);
    bind_str(st, 3, u->password_hash);
    bind_str(st, 4, now);
    rc = step_write(ctx, st, &u->m, err, NULL, "a user named '%s' already exists", u->name);
    finish(st);
    return rc;
}

static int sq_token_insert(void *ctx, struct token *t, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    char now[32];
    int rc = prep(ctx, ST_TOKEN_INSERT, &st, err);
    if (rc != DMT_OK) return rc;
    util_now_rfc3339(now, sizeof(now));
    bind_str(st, 1, t->name);
    sqlite3_bind_int64(st, 2, t->user_id);
    bind_str(st, 3, t->hash);
    bind_str(st, 4, now);
    /* Never print the hash: it identifies a credential. */
    rc = step_write(ctx, st, &t->m, err, "user", "this token already exists", NULL);
    finish(st);
    return rc;
}

static int sq_token_find(void *ctx, const char *hash, struct token *out, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_TOKEN_FIND, &st, err);
    if (rc != DMT_OK) return rc;
    bind_str(st, 1, hash);
    rc = step_one(ctx, st, err);
    if (rc == DMT_OK) rc = read_token(st, out, err);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) dmt_err_set(err, rc, "no such token");
    return rc;
}

static int sq_user_list(void *ctx, struct user_list *out, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_USER_LIST, &st, err);
    if (rc != DMT_OK) return rc;
    return rows_user(ctx, st, out, err);
}

static int sq_user_get_id(void *ctx, int64_t id, struct user *out, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_USER_GET_ID, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = step_one(ctx, st, err);
    if (rc == DMT_OK) rc = read_user(st, out, err);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) dmt_err_set(err, rc, "no user with id %lld", (long long)id);
    return rc;
}

static int sq_user_update(void *ctx, struct user *u, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    char now[32];
    int rc = prep(ctx, ST_USER_UPDATE, &st, err);
    if (rc != DMT_OK) return rc;
    util_now_rfc3339(now, sizeof(now));
    bind_str(st, 1, u->name);
    bind_str(st, 2, u->role);
    bind_str(st, 3, u->password_hash);
    bind_str(st, 4, now);
    sqlite3_bind_int(st, 5, u->failed_logins);
    sqlite3_bind_int64(st, 6, u->locked_until);
    sqlite3_bind_int64(st, 7, u->m.id);
    rc = step_write(ctx, st, &u->m, err, NULL, "a user named '%s' already exists", u->name);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND)
        dmt_err_set(err, rc, "no user with id %lld", (long long)u->m.id);
    return rc;
}

static int sq_user_delete(void *ctx, int64_t id, struct dmt_err *err) {
    return delete_by_id(ctx, ST_USER_DELETE, "user", id, err);
}

static int sq_token_list(void *ctx, struct token_list *out, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_TOKEN_LIST, &st, err);
    if (rc != DMT_OK) return rc;
    return rows_token(ctx, st, out, err);
}

static int sq_token_get(void *ctx, int64_t id, struct token *out, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_TOKEN_GET, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = step_one(ctx, st, err);
    if (rc == DMT_OK) rc = read_token(st, out, err);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) dmt_err_set(err, rc, "no token with id %lld", (long long)id);
    return rc;
}

static int sq_token_delete(void *ctx, int64_t id, struct dmt_err *err) {
    return delete_by_id(ctx, ST_TOKEN_DELETE, "token", id, err);
}

static int sq_session_insert(void *ctx, struct session *s, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    char now[32];
    int64_t id = 0;
    int rc = prep(ctx, ST_SESSION_INSERT, &st, err);
    if (rc != DMT_OK) return rc;
    util_now_rfc3339(now, sizeof(now));
    bind_str(st, 1, s->hash);
    sqlite3_bind_int64(st, 2, s->user_id);
    bind_str(st, 3, s->csrf_hash);
    sqlite3_bind_int64(st, 4, s->expires_at);
    bind_str(st, 5, now);
    rc = step_insert(ctx, st, &id, err, "user", "%s", "this session already exists");
    finish(st);
    if (rc == DMT_OK) s->id = id;
    return rc;
}

static int sq_session_find(void *ctx, const char *hash, int64_t now, struct session *out,
                           struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_SESSION_FIND, &st, err);
    if (rc != DMT_OK) return rc;
    bind_str(st, 1, hash);
    sqlite3_bind_int64(st, 2, now);
    rc = step_one(ctx, st, err);
    if (rc == DMT_OK) rc = read_session(st, out, err);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) dmt_err_set(err, rc, "no such session");
    return rc;
}

static int sq_session_delete(void *ctx, int64_t id, struct dmt_err *err) {
    return delete_by_id(ctx, ST_SESSION_DELETE, "session", id, err);
}

static int sq_session_purge(void *ctx, int64_t now, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_SESSION_PURGE, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, now);
    rc = step_exec(ctx, st, NULL, err);
    finish(st);
    return rc;
}

static int sq_audit_insert(void *ctx, struct audit_entry *a, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int64_t id = 0;
    int rc = prep(ctx, ST_AUDIT_INSERT, &st, err);
    if (rc != DMT_OK) return rc;
    if (a->ts[0] == '\0') util_now_rfc3339(a->ts, sizeof(a->ts));
    bind_str(st, 1, a->ts);
    bind_str(st, 2, a->user != NULL ? a->user : "");
    bind_str(st, 3, a->action != NULL ? a->action : "");
    bind_str(st, 4, a->kind != NULL ? a->kind : "");
    bind_str(st, 5, a->name != NULL ? a->name : "");
    if (a->detail != NULL)
        rc = bind_json(st, 6, a->detail, err);
    else
        bind_str(st, 6, "{}");
    if (rc == DMT_OK) rc = step_insert(ctx, st, &id, err, NULL, "%s", "audit entry exists");
    finish(st);
    if (rc == DMT_OK) a->id = id;
    return rc;
}

static int sq_audit_list(void *ctx, int64_t before_id, int limit, struct audit_entry_list *out,
                         struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_AUDIT_LIST, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, before_id > 0 ? before_id : INT64_MAX);
    sqlite3_bind_int(st, 2, limit);
    return rows_audit_entry(ctx, st, out, err);
}

/* --- key/value --------------------------------------------------------- */

static int sq_kv_get(void *ctx, const char *key, char **out, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_KV_GET, &st, err);
    if (rc != DMT_OK) return rc;
    bind_str(st, 1, key);
    rc = step_one(ctx, st, err);
    if (rc == DMT_OK) *out = col_str0(st, 0);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) dmt_err_set(err, rc, "no key '%s'", key);
    return rc;
}

static int sq_kv_set(void *ctx, const char *key, const char *value, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    char now[32];
    int rc = prep(ctx, ST_KV_SET, &st, err);
    if (rc != DMT_OK) return rc;
    util_now_rfc3339(now, sizeof(now));
    bind_str(st, 1, key);
    bind_str(st, 2, value);
    bind_str(st, 3, now);
    rc = step_exec(ctx, st, NULL, err);
    finish(st);
    return rc;
}

/* --- runs ------------------------------------------------------------- */

/* A fenced write that matched no row: DMT_ERR_CONFLICT if the row (looked
 * up with statement sid) exists, for its run was taken over since it was
 * read; else DMT_ERR_NOT_FOUND. */
static int fenced_miss(struct sqlite_store *c, enum stmt sid, const char *noun, int64_t id,
                       int64_t fence, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(c, sid, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = step_one(c, st, err);
    finish(st);
    if (rc == DMT_OK)
        return dmt_err_set(err, DMT_ERR_CONFLICT,
                           "%s %lld was taken over: fence %lld is no longer current", noun,
                           (long long)id, (long long)fence);
    if (rc == DMT_ERR_NOT_FOUND)
        dmt_err_set(err, rc, sid == ST_RUN_EXISTS ? "no run %lld" : "no task result with id %lld",
                    (long long)id);
    return rc;
}

/* The most runs one run_list call returns (struct run_filter's limit). */
#define RUN_LIST_MAX 500

static int sq_run_insert(void *ctx, struct run *r, struct dmt_err *err) {
    struct sqlite_store *c = ctx;
    sqlite3_stmt *st = NULL;
    char now[32];
    if (!run_status_ok(r->status))
        return dmt_err_set(err, DMT_ERR_INTERNAL, "unknown run status %d", r->status);
    if (r->snapshot == NULL) return dmt_err_set(err, DMT_ERR_INTERNAL, "a run needs a snapshot");
    int rc = prep(c, ST_RUN_INSERT, &st, err);
    if (rc != DMT_OK) return rc;
    util_now_rfc3339(now, sizeof(now));
    bind_str(st, 1, r->job);
    bind_str(st, 2, r->environment);
    sqlite3_bind_int64(st, 3, r->job_id);
    sqlite3_bind_int64(st, 4, r->env_id);
    bind_str(st, 5, run_status_name(r->status));
    bind_str(st, 6, r->triggered_by != NULL ? r->triggered_by : "");
    if (r->rerun_of != 0) sqlite3_bind_int64(st, 7, r->rerun_of); /* else NULL */
    bind_time(st, 8, r->started_at);
    bind_time(st, 9, r->finished_at);
    sqlite3_bind_int(st, 10, r->cancel_requested ? 1 : 0);
    bind_str(st, 11, r->owner);
    rc = bind_json(st, 12, r->snapshot, err);
    bind_str(st, 13, now);
    if (rc == DMT_OK && r->tags != NULL)
        rc = bind_json(st, 14, r->tags, err);
    else
        bind_str(st, 14, "[]");
    if (rc == DMT_OK) rc = step_write(c, st, &r->m, err, NULL, "this run already exists", NULL);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) rc = dmt_err_set(err, DMT_ERR_STORE, "the run was not stored");
    return rc;
}

static int sq_run_get(void *ctx, int64_t id, struct run *out, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_RUN_GET, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = step_one(ctx, st, err);
    if (rc == DMT_OK) rc = read_run(st, out, err);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) dmt_err_set(err, rc, "no run %lld", (long long)id);
    return rc;
}

static int sq_run_update(void *ctx, struct run *r, struct dmt_err *err) {
    struct sqlite_store *c = ctx;
    sqlite3_stmt *st = NULL;
    char now[32];
    if (!run_status_ok(r->status))
        return dmt_err_set(err, DMT_ERR_INTERNAL, "unknown run status %d", r->status);
    int rc = prep(c, ST_RUN_UPDATE, &st, err);
    if (rc != DMT_OK) return rc;
    util_now_rfc3339(now, sizeof(now));
    bind_str(st, 1, run_status_name(r->status));
    bind_time(st, 2, r->started_at);
    bind_time(st, 3, r->finished_at);
    sqlite3_bind_int(st, 4, r->cancel_requested ? 1 : 0);
    bind_str(st, 5, r->owner);
    bind_str(st, 6, now);
    sqlite3_bind_int64(st, 7, r->m.id);
    sqlite3_bind_int64(st, 8, r->fence);
    rc = step_write(c, st, &r->m, err, NULL, "this run already exists", NULL);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) rc = fenced_miss(c, ST_RUN_EXISTS, "run", r->m.id, r->fence, err);
    return rc;
}

/*
 * Picks the statement whose leading equality has an index: job first (the
 * most selective as a rule), then environment, then status. A limit
 * outside 1..RUN_LIST_MAX is clamped into it.
 */
static int sq_run_list(void *ctx, const struct run_filter *f, struct run_list *out,
                       struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    enum stmt sid = ST_RUN_LIST_ANY;
    int limit = f->limit < 1 ? 1 : f->limit > RUN_LIST_MAX ? RUN_LIST_MAX : f->limit;
    if (f->job != NULL)
        sid = ST_RUN_LIST_JOB;
    else if (f->environment != NULL)
        sid = ST_RUN_LIST_ENV;
    else if (f->status >= 0)
        sid = ST_RUN_LIST_ST;
    int rc = prep(ctx, sid, &st, err);
    if (rc != DMT_OK) return rc;
    bind_str(st, 1, f->job);         /* NULL binds NULL: any */
    bind_str(st, 2, f->environment); /* likewise */
    if (f->status >= 0) bind_str(st, 3, run_status_name(f->status));
    sqlite3_bind_int64(st, 4, f->before_id > 0 ? f->before_id : INT64_MAX);
    sqlite3_bind_int(st, 5, limit);
    return rows_run(ctx, st, out, err);
}

static int sq_run_list_status(void *ctx, int status, struct run_list *out, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_RUN_LIST_STATUS, &st, err);
    if (rc != DMT_OK) return rc;
    bind_str(st, 1, run_status_name(status));
    return rows_run(ctx, st, out, err);
}

static int sq_run_state(void *ctx, int64_t id, int *status, bool *cancel_requested,
                        struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_RUN_STATE, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = step_one(ctx, st, err);
    if (rc == DMT_OK) {
        *status = run_status_parse((const char *)sqlite3_column_text(st, 0));
        *cancel_requested = sqlite3_column_int(st, 1) != 0;
        if (*status < 0) rc = dmt_err_set(err, DMT_ERR_STORE, "run %lld has an unknown status", (long long)id);
    }
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) dmt_err_set(err, rc, "no run %lld", (long long)id);
    return rc;
}

static int sq_run_ids(void *ctx, int status, int limit, int64_t *ids, size_t *n,
                      struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_RUN_IDS, &st, err);
    if (rc != DMT_OK) return rc;
    bind_str(st, 1, run_status_name(status));
    sqlite3_bind_int(st, 2, limit);
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < (size_t)limit)
        ids[(*n)++] = sqlite3_column_int64(st, 0);
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? DMT_OK : fail(ctx, rc, err);
    finish(st);
    return rc;
}

static int sq_run_claim(void *ctx, const char *node, const json_t *tags, int lease_s, int64_t *id,
                        int64_t *fence, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    char now[32];
    int rc = prep(ctx, ST_RUN_CLAIM, &st, err);
    if (rc != DMT_OK) return rc;
    if (tags != NULL && (rc = bind_json(st, 6, tags, err)) != DMT_OK) {
        finish(st);
        return rc;
    }
    if (tags == NULL) bind_str(st, 6, "[]");
    util_now_rfc3339(now, sizeof(now));
    bind_str(st, 1, node);
    bind_str(st, 2, now);
    sqlite3_bind_int(st, 3, lease_s);
    bind_str(st, 4, run_status_name(RUN_RUNNING));
    bind_str(st, 5, run_status_name(RUN_QUEUED));
    rc = step_one(ctx, st, err);
    if (rc == DMT_OK) {
        *id = sqlite3_column_int64(st, 0);
        *fence = sqlite3_column_int64(st, 1);
        /* Step to the end so that the statement is done with the row. */
        int r2 = sqlite3_step(st);
        if (r2 != SQLITE_DONE) rc = fail(ctx, r2, err);
    }
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) dmt_err_set(err, rc, "no run is queued");
    return rc;
}

static int sq_run_renew(void *ctx, int64_t id, int64_t fence, int lease_s, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int changes = 0;
    int rc = prep(ctx, ST_RUN_RENEW, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, fence);
    sqlite3_bind_int(st, 3, lease_s);
    bind_str(st, 4, run_status_name(RUN_RUNNING));
    rc = step_exec(ctx, st, &changes, err);
    finish(st);
    if (rc == DMT_OK && changes == 0)
        rc = dmt_err_set(err, DMT_ERR_CONFLICT, "run %lld is no longer held under fence %lld",
                         (long long)id, (long long)fence);
    return rc;
}

static int sq_run_revoke(void *ctx, int64_t id, int64_t fence, bool expired_only,
                         int64_t *new_fence, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_RUN_REVOKE, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, fence);
    bind_str(st, 3, run_status_name(RUN_RUNNING));
    sqlite3_bind_int(st, 4, expired_only ? 1 : 0);
    rc = step_one(ctx, st, err);
    if (rc == DMT_OK) {
        *new_fence = sqlite3_column_int64(st, 0);
        int r2 = sqlite3_step(st);
        if (r2 != SQLITE_DONE) rc = fail(ctx, r2, err);
    }
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND)
        rc = dmt_err_set(err, DMT_ERR_CONFLICT,
                         "run %lld is not running under fence %lld with %s lease", (long long)id,
                         (long long)fence, expired_only ? "an expired" : "a");
    return rc;
}

static int sq_run_expired(void *ctx, int limit, int64_t *ids, size_t *n, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_RUN_EXPIRED, &st, err);
    if (rc != DMT_OK) return rc;
    bind_str(st, 1, run_status_name(RUN_RUNNING));
    sqlite3_bind_int(st, 2, limit);
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < (size_t)limit)
        ids[(*n)++] = sqlite3_column_int64(st, 0);
    rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? DMT_OK : fail(ctx, rc, err);
    finish(st);
    return rc;
}

/* --- workers ----------------------------------------------------------- */

static int sq_worker_beat(void *ctx, const struct worker *w, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_WORKER_BEAT, &st, err);
    if (rc != DMT_OK) return rc;
    bind_str(st, 1, w->name);
    bind_str(st, 2, w->kind);
    if (w->tags != NULL)
        rc = bind_json(st, 3, w->tags, err);
    else
        bind_str(st, 3, "[]");
    sqlite3_bind_int(st, 4, w->concurrency);
    sqlite3_bind_int(st, 5, w->active);
    sqlite3_bind_int(st, 6, w->lease_s);
    bind_str(st, 7, w->started_at);
    sqlite3_bind_int(st, 8, w->draining ? 1 : 0);
    if (rc == DMT_OK) rc = step_exec(ctx, st, NULL, err);
    finish(st);
    if (rc == DMT_OK && (rc = prep(ctx, ST_WORKER_PRUNE, &st, err)) == DMT_OK) {
        rc = step_exec(ctx, st, NULL, err);
        finish(st);
    }
    return rc;
}

static int sq_worker_gone(void *ctx, const char *name, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_WORKER_GONE, &st, err);
    if (rc != DMT_OK) return rc;
    bind_str(st, 1, name);
    rc = step_exec(ctx, st, NULL, err);
    finish(st);
    return rc;
}

/* Gives each worker of l its running runs. */
static int worker_runs(struct sqlite_store *c, struct worker_list *l, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(c, ST_WORKER_RUNS, &st, err);
    if (rc != DMT_OK) return rc;
    bind_str(st, 1, run_status_name(RUN_RUNNING));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *owner = (const char *)sqlite3_column_text(st, 1);
        for (size_t i = 0; i < l->n; i++)
            if (strcmp(l->items[i].name, owner) == 0 && ++l->items[i].active > 0)
                json_array_append_new(
                    l->items[i].runs,
                    json_pack("{s:I, s:I}", "id", (json_int_t)sqlite3_column_int64(st, 0),
                              "lease_until", (json_int_t)sqlite3_column_int64(st, 2)));
    }
    rc = rc == SQLITE_DONE ? DMT_OK : fail(c, rc, err);
    finish(st);
    return rc;
}

static int sq_worker_list(void *ctx, struct worker_list *out, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    struct worker_list l = {0};
    int rc = prep(ctx, ST_WORKER_LIST, &st, err), step = SQLITE_DONE;
    if (rc != DMT_OK) return rc;
    while (rc == DMT_OK && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct worker *w = worker_list_push(&l);
        w->id = sqlite3_column_int64(st, 0);
        w->name = col_str0(st, 1);
        w->kind = col_str0(st, 2);
        rc = col_json(st, 3, &w->tags, err);
        if (w->tags == NULL) w->tags = json_array();
        w->concurrency = sqlite3_column_int(st, 4);
        w->lease_s = sqlite3_column_int(st, 6);
        copy_text(st, 7, w->started_at, sizeof(w->started_at));
        w->seen_ago_ms = sqlite3_column_int64(st, 8);
        w->draining = sqlite3_column_int(st, 9) != 0;
        w->runs = json_array();
    }
    if (rc == DMT_OK && step != SQLITE_DONE) rc = fail(ctx, step, err);
    finish(st);
    if (rc == DMT_OK) rc = worker_runs(ctx, &l, err);
    if (rc != DMT_OK) {
        worker_list_cleanup(&l);
        return rc;
    }
    *out = l;
    return DMT_OK;
}

/* --- task results ------------------------------------------------------ */

/* Binds ?4..?10, the columns that both RESULT_INSERT and RESULT_UPDATE
 * write. RESULT_UPDATE numbers its parameters like RESULT_INSERT (leaving
 * ?1..?3 unused) so that this one binder serves both. */
static int bind_result_state(sqlite3_stmt *st, const struct task_result *t, struct dmt_err *err) {
    bind_str(st, 4, result_status_name(t->status));
    sqlite3_bind_int(st, 5, t->attempts);
    sqlite3_bind_int(st, 6, t->exit_code);
    bind_str(st, 7, t->error);
    bind_time(st, 8, t->started_at);
    bind_time(st, 9, t->finished_at);
    if (t->outputs == NULL) {
        bind_str(st, 10, "{}");
        return DMT_OK;
    }
    return bind_json(st, 10, t->outputs, err);
}

static int sq_result_insert(void *ctx, struct task_result *t, struct dmt_err *err) {
    struct sqlite_store *c = ctx;
    sqlite3_stmt *st = NULL;
    char what[96];
    int64_t id = 0;
    if (!result_status_ok(t->status))
        return dmt_err_set(err, DMT_ERR_INTERNAL, "unknown task result status %d", t->status);
    int rc = prep(c, ST_RESULT_INSERT, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, t->run_id);
    sqlite3_bind_int(st, 2, t->idx);
    bind_str(st, 3, t->name);
    rc = bind_result_state(st, t, err);
    snprintf(what, sizeof(what), "run %lld already has a result for task %d", (long long)t->run_id,
             t->idx);
    if (rc == DMT_OK) rc = step_insert(c, st, &id, err, "run", "%s", what);
    finish(st);
    if (rc == DMT_OK) t->id = id;
    return rc;
}

static int sq_result_update(void *ctx, struct task_result *t, struct dmt_err *err) {
    struct sqlite_store *c = ctx;
    sqlite3_stmt *st = NULL;
    int changes = 0;
    if (!result_status_ok(t->status))
        return dmt_err_set(err, DMT_ERR_INTERNAL, "unknown task result status %d", t->status);
    int rc = prep(c, ST_RESULT_UPDATE, &st, err);
    if (rc != DMT_OK) return rc;
    rc = bind_result_state(st, t, err);
    sqlite3_bind_int64(st, 11, t->id);
    sqlite3_bind_int64(st, 12, t->fence);
    if (rc == DMT_OK) rc = step_exec(c, st, &changes, err);
    finish(st);
    if (rc == DMT_OK && changes == 0)
        rc = fenced_miss(c, ST_RESULT_EXISTS, "task result", t->id, t->fence, err);
    return rc;
}

static int sq_result_list(void *ctx, int64_t run_id, struct task_result_list *out,
                          struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_RESULT_LIST, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, run_id);
    return rows_task_result(ctx, st, out, err);
}

/* --- logs -------------------------------------------------------------- */

/* An empty ch->ts is set to the current time. */
static int sq_log_append(void *ctx, struct log_chunk *ch, struct dmt_err *err) {
    struct sqlite_store *c = ctx;
    sqlite3_stmt *st = NULL;
    int64_t seq = 0;
    if (ch->stream < 0 || ch->stream >= N_STREAMS)
        return dmt_err_set(err, DMT_ERR_INTERNAL, "unknown log stream %d", ch->stream);
    if (ch->data == NULL && ch->len > 0)
        return dmt_err_set(err, DMT_ERR_INTERNAL, "a log chunk of %zu bytes without data", ch->len);
    int rc = prep(c, ST_LOG_APPEND, &st, err);
    if (rc != DMT_OK) return rc;
    if (ch->ts[0] == '\0') util_now_rfc3339(ch->ts, sizeof(ch->ts));
    sqlite3_bind_int64(st, 1, ch->run_id);
    sqlite3_bind_int(st, 2, ch->task_idx);
    bind_str(st, 3, stream_names[ch->stream]);
    bind_str(st, 4, ch->ts);
    /* A NULL pointer would bind SQL NULL; an empty chunk is an empty blob. */
    int src = sqlite3_bind_blob64(st, 5, ch->data != NULL ? ch->data : "", ch->len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, ch->fence);
    if (src != SQLITE_OK)
        rc = fail(c, src, err); /* SQLITE_TOOBIG: beyond SQLite's limit */
    else
        rc = step_insert(c, st, &seq, err, "run", "this log chunk already exists", NULL);
    if (rc == DMT_OK && sqlite3_changes(c->db) == 0)
        rc = dmt_err_set(err, DMT_ERR_CONFLICT, "run %lld is no longer held under fence %lld",
                         (long long)ch->run_id, (long long)ch->fence);
    finish(st);
    if (rc == DMT_OK) ch->seq = seq;
    return rc;
}

/*
 * Reads chunks in seq order and stops before the one that would take the
 * total data over max_bytes, so the answer holds at most max_bytes of data
 * unless its only chunk alone is larger. A run without chunks (or no such
 * run) gives an empty list.
 */
static int sq_log_read(void *ctx, int64_t run_id, int64_t after_seq, size_t max_bytes,
                       struct log_chunk_list *out, struct dmt_err *err) {
    struct sqlite_store *c = ctx;
    sqlite3_stmt *st = NULL;
    struct log_chunk_list l = {0};
    size_t total = 0;
    int src = SQLITE_DONE;
    int rc = prep(c, ST_LOG_READ, &st, err);
    if (rc != DMT_OK) return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, after_seq);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(st, 5);
        if (l.n > 0 && (total >= max_bytes || len > max_bytes - total)) {
            src = SQLITE_DONE;
            break;
        }
        rc = read_log_chunk(st, log_chunk_list_push(&l), err);
        if (rc != DMT_OK) break;
        total += len;
    }
    if (rc == DMT_OK && src != SQLITE_DONE) rc = fail(c, src, err);
    finish(st);
    if (rc != DMT_OK) {
        log_chunk_list_cleanup(&l);
        return rc;
    }
    *out = l;
    return DMT_OK;
}

/* --- the change sequence ----------------------------------------------- */

/*
 * Copies the WAL-index header into out, as SQLite's own readers do before
 * they take any lock: the first copy, a barrier, the second copy, and the
 * two must match (else a writer is in the middle of updating them). Every
 * commit to the database, from any connection of any process, rewrites
 * the header (its change counter, frame count and checksums) before the
 * commit returns, and a checkpoint that restarts the WAL does too (new
 * salts), so an unchanged header means that nothing was committed. False
 * when there is no header to look at (not in WAL mode, not mapped yet, not
 * initialized, a layout other than the documented one, a torn read).
 */
static bool wal_header(struct sqlite_store *c, unsigned char out[WAL_HDR_SIZE]) {
    sqlite3_file *f = NULL;
    if (!c->wal || sqlite3_file_control(c->db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK ||
        f == NULL || f->pMethods == NULL || f->pMethods->iVersion < 2 ||
        f->pMethods->xShmMap == NULL)
        return false;
    void volatile *map = NULL;
    /* Region 0, never extended: it exists once the connection has read
     * the database in WAL mode (store_sqlite_open does). */
    if (f->pMethods->xShmMap(f, 0, WAL_INDEX_REGION, 0, &map) != SQLITE_OK || map == NULL)
        return false;
    const volatile unsigned char *hdr = map;
    unsigned char second[WAL_HDR_SIZE];
    memcpy(out, (const void *)hdr, WAL_HDR_SIZE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    memcpy(second, (const void *)(hdr + WAL_HDR_SIZE), WAL_HDR_SIZE);
    uint32_t version;
    memcpy(&version, out, sizeof(version));
    /* Byte 12 is isInit. */
    return memcmp(out, second, WAL_HDR_SIZE) == 0 && version == WAL_HDR_VERSION && out[12] == 1;
}

/*
 * The change sequence. Read on every API request (the answer cache and
 * the credential cache are keyed on it), and a read transaction costs
 * SQLite two fcntl() locks on the shared memory: outside a transaction,
 * the value read last is answered again while the WAL-index header is the
 * one seen before that read, that is while nothing was committed since.
 * Inside a transaction it is always read, so that it belongs to the
 * transaction's snapshot.
 */
static int sq_seq_get(void *ctx, int64_t *out, struct dmt_err *err) {
    struct sqlite_store *c = ctx;
    unsigned char hdr[WAL_HDR_SIZE];
    bool peek = !sq_in_tx(c) && wal_header(c, hdr);
    if (peek && c->seq_known && memcmp(hdr, c->seq_hdr, WAL_HDR_SIZE) == 0) {
        *out = c->seq_val;
        return DMT_OK;
    }
    sqlite3_stmt *st = NULL;
    int rc = prep(ctx, ST_SEQ_GET, &st, err);
    if (rc != DMT_OK) return rc;
    rc = step_one(ctx, st, err);
    if (rc == DMT_OK) *out = sqlite3_column_int64(st, 0);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) rc = dmt_err_set(err, DMT_ERR_STORE, "the changes table is empty");
    /* The header was read first: a commit after it changes the header, so
     * the pair can only be too old, never answer a stale value. */
    c->seq_known = peek && rc == DMT_OK;
    if (c->seq_known) {
        c->seq_val = *out;
        memcpy(c->seq_hdr, hdr, WAL_HDR_SIZE);
    }
    return rc;
}

/* A passive checkpoint: copies what it can of the WAL into the database
 * without waiting for readers or writers. The fsync it needs happens here,
 * on the maintainer's thread, instead of inside some writer's commit. */
static int sq_maintain(void *ctx, struct dmt_err *err) {
    struct sqlite_store *c = ctx;
    int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return rc == SQLITE_OK ? DMT_OK : fail(c, rc, err);
}

static int sq_seq_bump(void *ctx, struct dmt_err *err) {
    struct sqlite_store *c = ctx;
    sqlite3_stmt *st = NULL;
    /* A transaction that changed nothing leaves the sequence (and with it
     * every cache and list ETag) as it was. */
    if (sqlite3_total_changes64(c->db) == c->changes_at_begin) return DMT_OK;
    int rc = prep(ctx, ST_SEQ_BUMP, &st, err);
    if (rc != DMT_OK) return rc;
    rc = step_exec(ctx, st, NULL, err);
    finish(st);
    return rc;
}

/* --- open and close ---------------------------------------------------- */

static void sq_close(void *ctx) {
    struct sqlite_store *c = ctx;
    if (c == NULL) return;
    if (c->db != NULL) {
        sq_rollback(c);
        for (int i = 0; i < ST_COUNT; i++)
            sqlite3_finalize(c->st[i]);
        if (sqlite3_close(c->db) != SQLITE_OK) log_error("sqlite close: %s", sqlite3_errmsg(c->db));
    }
    free(c);
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .in_tx = sq_in_tx,
    .env_list = sq_env_list,
    .env_get = sq_env_get,
    .env_insert = sq_env_insert,
    .env_update = sq_env_update,
    .env_delete = sq_env_delete,
    .job_list = sq_job_list,
    .job_get = sq_job_get,
    .job_insert = sq_job_insert,
    .job_update = sq_job_update,
    .job_delete = sq_job_delete,
    .task_list = sq_task_list,
    .task_get = sq_task_get,
    .task_insert = sq_task_insert,
    .task_update = sq_task_update,
    .task_delete = sq_task_delete,
    .var_list = sq_var_list,
    .var_list_job = sq_var_list_job,
    .var_get = sq_var_get,
    .var_insert = sq_var_insert,
    .var_update = sq_var_update,
    .var_delete = sq_var_delete,
    .override_list_job = sq_override_list_job,
    .override_list_var = sq_override_list_var,
    .override_get = sq_override_get,
    .override_put = sq_override_put,
    .override_delete = sq_override_delete,
    .touch = sq_touch,
    .user_get = sq_user_get,
    .user_insert = sq_user_insert,
    .token_insert = sq_token_insert,
    .token_find = sq_token_find,
    .user_list = sq_user_list,
    .user_get_id = sq_user_get_id,
    .user_update = sq_user_update,
    .user_delete = sq_user_delete,
    .token_list = sq_token_list,
    .token_get = sq_token_get,
    .token_delete = sq_token_delete,
    .session_insert = sq_session_insert,
    .session_find = sq_session_find,
    .session_delete = sq_session_delete,
    .session_purge = sq_session_purge,
    .audit_insert = sq_audit_insert,
    .audit_list = sq_audit_list,
    .kv_get = sq_kv_get,
    .kv_set = sq_kv_set,
    .run_insert = sq_run_insert,
    .run_get = sq_run_get,
    .run_update = sq_run_update,
    .run_list = sq_run_list,
    .run_list_status = sq_run_list_status,
    .result_insert = sq_result_insert,
    .result_update = sq_result_update,
    .result_list = sq_result_list,
    .log_append = sq_log_append,
    .log_read = sq_log_read,
    .run_state = sq_run_state,
    .run_ids = sq_run_ids,
    .run_claim = sq_run_claim,
    .worker_beat = sq_worker_beat,
    .worker_gone = sq_worker_gone,
    .worker_list = sq_worker_list,
    .run_renew = sq_run_renew,
    .run_revoke = sq_run_revoke,
    .run_expired = sq_run_expired,
    .seq_get = sq_seq_get,
    .seq_bump = sq_seq_bump,
    .maintain = sq_maintain,
};

/* Runs fixed SQL text (pragmas, migrations); never used with values. */
static int exec_sql(struct sqlite_store *c, const char *sql, struct dmt_err *err) {
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK) return DMT_OK;
    int code =
        (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? DMT_ERR_BUSY : DMT_ERR_STORE;
    dmt_err_set(err, code, "sqlite: %s", msg != NULL ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return code;
}

/*
 * Switches the database to WAL mode. The switch needs every other
 * connection's lock and SQLite may answer SQLITE_BUSY without calling the
 * busy handler when several connections open a new file at once, so it is
 * retried here for up to the busy timeout.
 */
static int set_wal(struct sqlite_store *c, struct dmt_err *err) {
    int rc = SQLITE_BUSY;
    for (int waited = 0; waited <= BUSY_TIMEOUT_MS; waited += 10) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(st, 0);
            /* An in-memory database stays "memory"; that is fine for tests. */
            if (mode != NULL && strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)
                log_warn("sqlite: journal mode is %s, not wal", mode);
            c->wal = mode != NULL && strcmp(mode, "wal") == 0;
            sqlite3_finalize(st);
            return DMT_OK;
        }
        sqlite3_finalize(st);
        if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) break;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return fail(c, rc, err);
}

/* Applies migration number `version` unless another connection has. */
static int apply_migration(struct sqlite_store *c, int version, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    char now[32];
    int rc = sq_begin(c, true, err);
    if (rc != DMT_OK) return rc;
    rc = prep(c, ST_MIGRATION_HAS, &st, err);
    if (rc != DMT_OK) goto out;
    sqlite3_bind_int(st, 1, version);
    rc = step_one(c, st, err);
    finish(st);
    if (rc == DMT_OK) goto out; /* applied meanwhile */
    if (rc != DMT_ERR_NOT_FOUND) goto out;
    rc = exec_sql(c, migrations[version - 1], err);
    if (rc != DMT_OK) goto out;
    rc = prep(c, ST_MIGRATION_ADD, &st, err);
    if (rc != DMT_OK) goto out;
    util_now_rfc3339(now, sizeof(now));
    sqlite3_bind_int(st, 1, version);
    bind_str(st, 2, now);
    rc = step_exec(c, st, NULL, err);
    finish(st);
    if (rc != DMT_OK) goto out;
    rc = sq_commit(c, err);
    if (rc == DMT_OK) log_debug("sqlite: applied schema migration %d", version);
out:
    sq_rollback(c);
    if (rc != DMT_OK) dmt_err_set(err, rc, "schema migration %d failed", version);
    return rc;
}

static int migrate(struct sqlite_store *c, struct dmt_err *err) {
    sqlite3_stmt *st = NULL;
    int have = 0;
    int rc = exec_sql(c,
                      "CREATE TABLE IF NOT EXISTS schema_migrations ("
                      "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
                      err);
    if (rc != DMT_OK) return rc;
    rc = prep(c, ST_MIGRATION_MAX, &st, err);
    if (rc != DMT_OK) return rc;
    rc = step_one(c, st, err);
    if (rc == DMT_OK) have = sqlite3_column_int(st, 0);
    finish(st);
    if (rc == DMT_ERR_NOT_FOUND) rc = DMT_OK;
    if (rc != DMT_OK) return rc;
    if (have > N_MIGRATIONS)
        return dmt_err_set(err, DMT_ERR_STORE,
                           "the database has schema version %d, newer than this dmt knows (%d)",
                           have, N_MIGRATIONS);
    for (int v = have + 1; v <= N_MIGRATIONS; v++) {
        rc = apply_migration(c, v, err);
        if (rc != DMT_OK) return rc;
    }
    return DMT_OK;
}

/*
 * Opens (creating if needed) the SQLite database at path, switches it to
 * WAL mode with foreign keys on, and applies the missing schema migrations.
 * On DMT_OK *out is a new handle owning one connection; release it with
 * store_close(), which frees the handle itself. Several handles may open
 * the same file at once, one thread per handle. On failure *out is
 * untouched and err says why.
 */
int store_sqlite_open(const char *path, struct store **out, struct dmt_err *err) {
    struct sqlite_store *c = calloc(1, sizeof(*c));
    int rc;
    if (c == NULL) return dmt_err_set(err, DMT_ERR_NOMEM, "out of memory");
    c->base.ops = &sqlite_ops;
    c->base.ctx = c;
    int src = sqlite3_open_v2(
        path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = dmt_err_set(err, DMT_ERR_STORE, "cannot open database %s: %s", path,
                         c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(src));
        goto out;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
    /* 16 KiB pages (SQLite's default is 4 KiB): log chunks are large
     * blobs, and a quarter of the pages means a quarter of the WAL writes.
     * Only takes effect on a new, empty database file. */
    rc = exec_sql(c, "PRAGMA page_size = 4096;", err);
    if (rc != DMT_OK) goto out;
    rc = set_wal(c, err);
    if (rc != DMT_OK) goto out;
    /* Checkpoints are the maintainer's job (sq_maintain); a connection
     * checkpoints itself only when the WAL passes 64 MiB of 4 KiB pages,
     * as a backstop when no maintainer runs. */
    rc = exec_sql(c,
                  "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
                  " PRAGMA wal_autocheckpoint = 16384;",
                  err);
    if (rc != DMT_OK) goto out;
    rc = migrate(c, err);
    if (rc != DMT_OK) goto out;
    *out = &c->base;
out:
    if (rc != DMT_OK) {
        dmt_err_set(err, rc, "cannot open database %s", path);
        sq_close(c);
    }
    return rc;
}
