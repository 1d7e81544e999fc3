//! SQL for the staff service's tables. Every function runs on the connection or
//! transaction it is given, so the service decides what is atomic.

use ringside_identity::paging::Page;
use ringside_storage::sql::placeholders;
use ringside_storage::{AssertSqlSafe, Row};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::error::Result;
use crate::model::{Team, User};

const USER_COLUMNS: &str = "id, name, login, role, alert_email, telegram_chat_id, locale, \
                            time_zone, active, created_at, updated_at";

fn user_from_row(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        login: row.try_get("login")?,
        role: row.try_get("role")?,
        team_ids: Vec::new(),
        extensions: Vec::new(),
        alert_email: row.try_get("alert_email")?,
        telegram_chat_id: row.try_get("telegram_chat_id")?,
        locale: row.try_get("locale")?,
        time_zone: row.try_get("time_zone")?,
        active: row.try_get::<i64, _>("active")? != 0,
        two_factor: false,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Fills in the extensions, teams and second factor of `users`.
async fn complete(conn: &mut AnyConnection, users: &mut [User]) -> Result<()> {
    for user in users {
        user.extensions = sqlx::query_scalar(
            "SELECT extension FROM user_extensions WHERE user_id = $1 ORDER BY extension",
        )
        .bind(&user.id)
        .fetch_all(&mut *conn)
        .await?;
        user.team_ids = sqlx::query_scalar(
            "SELECT team_id FROM team_members WHERE user_id = $1 ORDER BY team_id",
        )
        .bind(&user.id)
        .fetch_all(&mut *conn)
        .await?;
        let on: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM user_totp WHERE user_id = $1 AND secret IS NOT NULL",
        )
        .bind(&user.id)
        .fetch_one(&mut *conn)
        .await?;
        user.two_factor = on > 0;
    }
    Ok(())
}

/// Writes a user's details and active flag (not their extensions or teams): a new
/// row, or the existing one with its creation time kept.
pub async fn save_user(conn: &mut AnyConnection, user: &User) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, name, login, role, alert_email, telegram_chat_id, locale, \
         time_zone, active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO UPDATE SET name = $2, login = $3, role = $4, alert_email = $5, \
         telegram_chat_id = $6, locale = $7, time_zone = $8, active = $9, updated_at = $11",
    )
    .bind(&user.id)
    .bind(&user.name)
    .bind(&user.login)
    .bind(&user.role)
    .bind(&user.alert_email)
    .bind(&user.telegram_chat_id)
    .bind(&user.locale)
    .bind(&user.time_zone)
    .bind(i64::from(user.active))
    .bind(user.created_at)
    .bind(user.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The id and name of each user among `ids`.
pub async fn names(conn: &mut AnyConnection, ids: &[&str]) -> Result<Vec<(String, String)>> {
    let sql = format!(
        "SELECT id, name FROM users WHERE id IN ({})",
        placeholders(1, ids.len())
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
        .collect()
}

pub async fn user(conn: &mut AnyConnection, id: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let Some(row) = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let mut users = [user_from_row(&row)?];
    complete(conn, &mut users).await?;
    Ok(users.into_iter().next())
}

/// What a list of users is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub team_id: Option<String>,
    pub roles: Vec<String>,
    pub include_inactive: bool,
}

/// One page of users in id order (a look-ahead row more than the page).
pub async fn users(
    conn: &mut AnyConnection,
    filter: &UserFilter,
    page: &Page,
) -> Result<Vec<User>> {
    let roles = match filter.roles.is_empty() {
        true => String::new(),
        false => format!(" AND u.role IN ({})", placeholders(5, filter.roles.len())),
    };
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users u \
         WHERE ($1 = '' OR EXISTS (SELECT 1 FROM team_members m \
                                   WHERE m.user_id = u.id AND m.team_id = $1)) \
           AND ($2 = 1 OR u.active = 1) AND u.id > $3{roles} \
         ORDER BY u.id LIMIT $4"
    );
    let mut query = sqlx::query(AssertSqlSafe(sql))
        .bind(filter.team_id.as_deref().unwrap_or(""))
        .bind(i64::from(filter.include_inactive))
        .bind(page.after.as_ref().map_or("", |c| c.id.as_str()))
        .bind(page.size + 1);
    for role in &filter.roles {
        query = query.bind(role);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let mut users = rows.iter().map(user_from_row).collect::<Result<Vec<_>>>()?;
    complete(conn, &mut users).await?;
    Ok(users)
}

/// The id of the active user found by one of their unique keys.
pub async fn find(conn: &mut AnyConnection, by: &Lookup) -> Result<Option<String>> {
    let (sql, value) = match by {
        Lookup::Extension(ext) => (
            "SELECT u.id FROM user_extensions e JOIN users u ON u.id = e.user_id \
             WHERE e.extension = $1 AND u.active = 1",
            ext,
        ),
        Lookup::TelegramChat(chat) => (
            "SELECT id FROM users WHERE telegram_chat_id = $1 AND active = 1 ORDER BY id LIMIT 1",
            chat,
        ),
        Lookup::Login(login) => (
            "SELECT id FROM users WHERE login = $1 AND active = 1",
            login,
        ),
    };
    Ok(sqlx::query_scalar(sql)
        .bind(value)
        .fetch_optional(conn)
        .await?)
}

/// A unique key a user is found by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Extension(String),
    TelegramChat(String),
    Login(String),
}

/// Who holds `login`, if anyone.
pub async fn login_holder(conn: &mut AnyConnection, login: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT id FROM users WHERE login = $1")
        .bind(login)
        .fetch_optional(conn)
        .await?)
}

/// Who holds `extension`, if anyone, and whether they are active (a deactivated
/// user keeps their extensions until they are given to someone else).
pub async fn extension_holder(
    conn: &mut AnyConnection,
    extension: &str,
) -> Result<Option<(String, bool)>> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT u.id, u.active FROM user_extensions e JOIN users u ON u.id = e.user_id \
         WHERE e.extension = $1",
    )
    .bind(extension)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(id, active)| (id, active != 0)))
}

pub async fn replace_extensions(conn: &mut AnyConnection, user: &User) -> Result<()> {
    sqlx::query("DELETE FROM user_extensions WHERE user_id = $1")
        .bind(&user.id)
        .execute(&mut *conn)
        .await?;
    for ext in &user.extensions {
        // Taken from a deactivated holder, if one had it (checked by the service).
        sqlx::query("DELETE FROM user_extensions WHERE extension = $1")
            .bind(ext)
            .execute(&mut *conn)
            .await?;
        sqlx::query("INSERT INTO user_extensions (extension, user_id) VALUES ($1, $2)")
            .bind(ext)
            .bind(&user.id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Makes the user a member of exactly `user.team_ids`; a head of a team they stay in
/// stays its head.
pub async fn replace_memberships(conn: &mut AnyConnection, user: &User) -> Result<()> {
    let current: Vec<String> =
        sqlx::query_scalar("SELECT team_id FROM team_members WHERE user_id = $1")
            .bind(&user.id)
            .fetch_all(&mut *conn)
            .await?;
    for team in current.iter().filter(|t| !user.team_ids.contains(t)) {
        sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
            .bind(team)
            .bind(&user.id)
            .execute(&mut *conn)
            .await?;
    }
    for team in user.team_ids.iter().filter(|t| !current.contains(t)) {
        sqlx::query("INSERT INTO team_members (team_id, user_id, head) VALUES ($1, $2, 0)")
            .bind(team)
            .bind(&user.id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- teams

pub async fn insert_team(conn: &mut AnyConnection, team: &Team, now: i64) -> Result<()> {
    sqlx::query("INSERT INTO teams (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)")
        .bind(&team.id)
        .bind(&team.name)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn rename_team(conn: &mut AnyConnection, id: &str, name: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE teams SET name = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(name)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Makes exactly `heads` (members of the team) its heads.
pub async fn set_heads(conn: &mut AnyConnection, team_id: &str, heads: &[String]) -> Result<()> {
    sqlx::query("UPDATE team_members SET head = 0 WHERE team_id = $1")
        .bind(team_id)
        .execute(&mut *conn)
        .await?;
    for head in heads {
        sqlx::query("UPDATE team_members SET head = 1 WHERE team_id = $1 AND user_id = $2")
            .bind(team_id)
            .bind(head)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Who holds the team name `name`, if any team does.
pub async fn team_named(conn: &mut AnyConnection, name: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT id FROM teams WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await?)
}

/// The teams of `ids` that exist.
pub async fn existing_teams(conn: &mut AnyConnection, ids: &[String]) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for id in ids {
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM teams WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        found.extend(exists);
    }
    Ok(found)
}

pub async fn team(conn: &mut AnyConnection, id: &str) -> Result<Option<Team>> {
    Ok(teams_where(conn, Some(id)).await?.pop())
}

pub async fn teams(conn: &mut AnyConnection) -> Result<Vec<Team>> {
    teams_where(conn, None).await
}

async fn teams_where(conn: &mut AnyConnection, id: Option<&str>) -> Result<Vec<Team>> {
    let rows =
        sqlx::query("SELECT id, name FROM teams WHERE ($1 = '' OR id = $1) ORDER BY name, id")
            .bind(id.unwrap_or(""))
            .fetch_all(&mut *conn)
            .await?;
    let mut teams = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get("id")?;
        let members: Vec<(String, i64)> = sqlx::query_as(
            "SELECT user_id, head FROM team_members WHERE team_id = $1 ORDER BY user_id",
        )
        .bind(&id)
        .fetch_all(&mut *conn)
        .await?;
        teams.push(Team {
            name: row.try_get("name")?,
            head_ids: members
                .iter()
                .filter(|m| m.1 != 0)
                .map(|m| m.0.clone())
                .collect(),
            member_ids: members.into_iter().map(|m| m.0).collect(),
            id,
        });
    }
    Ok(teams)
}

// ---------------------------------------------------------------- sign-in

pub async fn password_hash(conn: &mut AnyConnection, user_id: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT hash FROM user_passwords WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn set_password_hash(
    conn: &mut AnyConnection,
    user_id: &str,
    hash: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO user_passwords (user_id, hash, changed_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET hash = $2, changed_at = $3",
    )
    .bind(user_id)
    .bind(hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Failed sign-ins in a row, and until when the account is locked (Unix ms).
pub async fn failures(conn: &mut AnyConnection, user_id: &str) -> Result<(i64, i64)> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT failures, locked_until FROM sign_in_failures WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(conn)
            .await?;
    Ok(row.unwrap_or((0, 0)))
}

/// One more failed sign-in in a row for `user_id`: the new count. An increment in
/// the store, so failures at once all count (and the row stays locked on PostgreSQL
/// until the transaction ends).
pub async fn add_failure(conn: &mut AnyConnection, user_id: &str, now: i64) -> Result<i64> {
    sqlx::query(
        "INSERT INTO sign_in_failures (user_id, failures, locked_until, last_at) \
         VALUES ($1, 1, 0, $2) ON CONFLICT (user_id) DO UPDATE \
         SET failures = sign_in_failures.failures + 1, last_at = $2",
    )
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(failures(conn, user_id).await?.0)
}

/// Locks `user_id`'s account until `until` (Unix ms).
pub async fn lock_until(conn: &mut AnyConnection, user_id: &str, until: i64) -> Result<()> {
    sqlx::query("UPDATE sign_in_failures SET locked_until = $2 WHERE user_id = $1")
        .bind(user_id)
        .bind(until)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_failures(
    conn: &mut AnyConnection,
    user_id: &str,
    failures: i64,
    locked_until: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sign_in_failures (user_id, failures, locked_until, last_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE \
         SET failures = $2, locked_until = $3, last_at = $4",
    )
    .bind(user_id)
    .bind(failures)
    .bind(locked_until)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A session as stored: its user, when it began, was last used and ends at the latest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub user_id: String,
    pub created_at: i64,
    pub seen_at: i64,
    pub expires_at: i64,
}

pub async fn insert_session(
    conn: &mut AnyConnection,
    secret_hash: &str,
    s: &StoredSession,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (secret_hash, user_id, created_at, seen_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(secret_hash)
    .bind(&s.user_id)
    .bind(s.created_at)
    .bind(s.seen_at)
    .bind(s.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn session(conn: &mut AnyConnection, secret_hash: &str) -> Result<Option<StoredSession>> {
    let row: Option<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT user_id, created_at, seen_at, expires_at FROM sessions WHERE secret_hash = $1",
    )
    .bind(secret_hash)
    .fetch_optional(conn)
    .await?;
    Ok(
        row.map(|(user_id, created_at, seen_at, expires_at)| StoredSession {
            user_id,
            created_at,
            seen_at,
            expires_at,
        }),
    )
}

pub async fn touch_session(conn: &mut AnyConnection, secret_hash: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE sessions SET seen_at = $2 WHERE secret_hash = $1")
        .bind(secret_hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn delete_session(conn: &mut AnyConnection, secret_hash: &str) -> Result<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE secret_hash = $1")
        .bind(secret_hash)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Ends every session of `user_id`, and every sign-in of theirs waiting for a code;
/// returns how many sessions there were.
pub async fn delete_sessions_of(conn: &mut AnyConnection, user_id: &str) -> Result<u64> {
    sqlx::query("DELETE FROM sign_in_challenges WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Gives `user_id` a one-time password link (ending the one they had).
pub async fn insert_password_link(
    conn: &mut AnyConnection,
    secret_hash: &str,
    user_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO password_links (secret_hash, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET \
         secret_hash = excluded.secret_hash, created_at = excluded.created_at, \
         expires_at = excluded.expires_at",
    )
    .bind(secret_hash)
    .bind(user_id)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends `user_id`'s password link, if they had one.
pub async fn delete_password_link_of(conn: &mut AnyConnection, user_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM password_links WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A password link's user and expiry, left as it is.
pub async fn password_link(
    conn: &mut AnyConnection,
    secret_hash: &str,
) -> Result<Option<(String, i64)>> {
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT user_id, expires_at FROM password_links WHERE secret_hash = $1")
            .bind(secret_hash)
            .fetch_optional(conn)
            .await?;
    Ok(row)
}

/// Uses up a password link: its user and when it expired or expires, if it existed.
pub async fn take_password_link(
    conn: &mut AnyConnection,
    secret_hash: &str,
) -> Result<Option<(String, i64)>> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "DELETE FROM password_links WHERE secret_hash = $1 RETURNING user_id, expires_at",
    )
    .bind(secret_hash)
    .fetch_optional(conn)
    .await?;
    Ok(row)
}

/// The first active admin (by id), if there is one.
pub async fn first_admin(conn: &mut AnyConnection) -> Result<Option<String>> {
    let found: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM users WHERE role = 'admin' AND active = 1 ORDER BY id LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    Ok(found.map(|(id,)| id))
}

/// Whether any active admin has a password: if not, nobody can sign in to run things.
pub async fn admin_can_sign_in(conn: &mut AnyConnection) -> Result<bool> {
    let found: Option<(String,)> = sqlx::query_as(
        "SELECT u.id FROM users u JOIN user_passwords p ON p.user_id = u.id \
         WHERE u.role = 'admin' AND u.active = 1 LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub outcome: String,
    pub detail: String,
}

pub async fn audit(conn: &mut AnyConnection, e: &AuditEntry) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit (at, actor, action, subject, outcome, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(e.at)
    .bind(&e.actor)
    .bind(&e.action)
    .bind(&e.subject)
    .bind(&e.outcome)
    .bind(&e.detail)
    .execute(conn)
    .await?;
    Ok(())
}

/// The newest audit lines before `before` (0: the newest), optionally about one subject.
pub async fn audit_trail(
    conn: &mut AnyConnection,
    subject: &str,
    before: i64,
    limit: i64,
) -> Result<Vec<AuditEntry>> {
    let rows: Vec<(i64, i64, String, String, String, String, String)> = sqlx::query_as(
        "SELECT id, at, actor, action, subject, outcome, detail FROM audit \
         WHERE ($1 = '' OR subject = $1) AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(subject)
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, at, actor, action, subject, outcome, detail)| AuditEntry {
                id,
                at,
                actor,
                action,
                subject,
                outcome,
                detail,
            },
        )
        .collect())
}

// ---------------------------------------------------------------- API tokens

/// A personal API token as stored (its secret only as a hash).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiToken {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The most the token may do (a role); empty: what its owner may.
    pub role: String,
}

const API_TOKEN_COLUMNS: &str =
    "id, user_id, name, created_at, expires_at, last_used_at, revoked_at, role";

fn api_token_from_row(row: &AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
        role: row.try_get("role")?,
    })
}

pub async fn insert_api_token(
    conn: &mut AnyConnection,
    t: &ApiToken,
    secret_hash: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, secret_hash, created_at, expires_at, role) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&t.id)
    .bind(&t.user_id)
    .bind(&t.name)
    .bind(secret_hash)
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(&t.role)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn api_token_by_secret(
    conn: &mut AnyConnection,
    secret_hash: &str,
) -> Result<Option<ApiToken>> {
    let sql = format!("SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE secret_hash = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(secret_hash)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(api_token_from_row).transpose()
}

pub async fn api_tokens_of(conn: &mut AnyConnection, user_id: &str) -> Result<Vec<ApiToken>> {
    let sql = format!("SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY id");
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(user_id)
        .fetch_all(conn)
        .await?;
    rows.iter().map(api_token_from_row).collect()
}

pub async fn touch_api_token(conn: &mut AnyConnection, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes the token `id` of `user_id`; whether there was one not yet revoked.
pub async fn revoke_api_token(
    conn: &mut AnyConnection,
    user_id: &str,
    id: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $3 \
         WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(user_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
