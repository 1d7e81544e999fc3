//! Databases for tests: a fresh SQLite file, and a fresh PostgreSQL database on the
//! server named by `RINGSIDE_TEST_DATABASE_URL`. When `RINGSIDE_REQUIRE_SERVERS` is set
//! (CI sets it) a missing or unreachable server fails the test instead of skipping it.

use crate::{Backend, Db};

/// The environment variable naming the PostgreSQL server tests use.
pub const DATABASE_URL_VAR: &str = "RINGSIDE_TEST_DATABASE_URL";
/// The environment variable naming the RabbitMQ server tests use.
pub const AMQP_URL_VAR: &str = "RINGSIDE_TEST_AMQP_URL";
/// Set (to anything) to make missing servers a failure rather than a skip.
pub const REQUIRE_VAR: &str = "RINGSIDE_REQUIRE_SERVERS";

/// A migrated database that lives as long as this value (the SQLite file is removed
/// with it; PostgreSQL databases are named `ringside_test_*` for cleanup).
pub struct TestDb {
    pub db: Db,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// The URL of a test server from `var`, or `None` to skip. Panics when the
/// server is required and not configured.
pub fn server_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os(REQUIRE_VAR).is_some() => {
            panic!("{var} is not set but {REQUIRE_VAR} is: the test cannot run")
        }
        _ => {
            eprintln!("SKIPPED: {var} is not set, so this test did not run against that server");
            None
        }
    }
}

/// A fresh, migrated SQLite database in a temporary directory.
pub async fn sqlite() -> TestDb {
    sqlite_at(None).await
}

/// How far a test database is migrated: every migration, or up to a version.
async fn migrate(db: &Db, version: Option<i64>) {
    match version {
        None => db.migrate().await,
        Some(version) => db.migrate_to(version).await,
    }
    .expect("migrate the test database");
}

async fn sqlite_at(version: Option<i64>) -> TestDb {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    let db = Db::connect(&url, 4).await.expect("open SQLite");
    migrate(&db, version).await;
    TestDb {
        db,
        url,
        _dir: Some(dir),
    }
}

/// A fresh, migrated PostgreSQL database, or `None` when no server is configured.
pub async fn postgres() -> Option<TestDb> {
    postgres_at(None).await
}

async fn postgres_at(version: Option<i64>) -> Option<TestDb> {
    let server = server_url(DATABASE_URL_VAR)?;
    let admin = Db::connect(&server, 1)
        .await
        .unwrap_or_else(|e| panic!("{DATABASE_URL_VAR} is set but unreachable: {e}"));
    let name = format!("ringside_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(crate::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin.pool())
        .await
        .expect("create test database");
    admin.close().await;
    let url = with_database(&server, &name);
    let db = Db::connect(&url, 16)
        .await
        .expect("connect to test database");
    migrate(&db, version).await;
    Some(TestDb {
        db,
        url,
        _dir: None,
    })
}

/// Every backend available to this test run: SQLite always, PostgreSQL when configured.
pub async fn all_backends() -> Vec<TestDb> {
    let mut dbs = vec![sqlite().await];
    dbs.extend(postgres().await);
    dbs
}

/// [`all_backends`], migrated only up to `version` (for tests of later migrations
/// that move data; `Db::migrate` finishes the job).
pub async fn all_backends_at(version: i64) -> Vec<TestDb> {
    let mut dbs = vec![sqlite_at(Some(version)).await];
    dbs.extend(postgres_at(Some(version)).await);
    dbs
}

/// `server` with its database name replaced by `name`.
fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server, String::new()),
    };
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|i| start + i))
        .unwrap_or(base.len());
    format!("{}/{name}{query}", &base[..authority_end])
}

impl TestDb {
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced_or_added() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5432/postgres", "t1"),
            "postgres://u@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://127.0.0.1:5432", "t1"),
            "postgres://127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://127.0.0.1/x?sslmode=disable", "t1"),
            "postgres://127.0.0.1/t1?sslmode=disable"
        );
    }
}
