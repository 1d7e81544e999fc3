//! Canned answers: the office's ready texts an agent drops into an answer in the
//! inbox (greetings, prices, directions). Managers and admins write and remove them;
//! everyone who writes to clients reads them. Plain texts with a title, kept in the
//! order of their titles; at most [`MAX_REPLIES`] of them.

use ringside_identity::{Invalid, required_body, required_text};
use ringside_proto::activities::v1 as pb;
use ringside_proto::timestamp_from_millis as ts;
use ringside_storage::{Row, new_id, now_millis};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::error::{ActivitiesError, Result};
use crate::model::Ctx;
use crate::service::ActivitiesService;

/// Longest title, in characters.
pub const MAX_TITLE: usize = 100;
/// Longest text, in characters: what one answer in the inbox may hold.
pub const MAX_TEXT: usize = 4_000;
/// How many the office keeps.
pub const MAX_REPLIES: i64 = 200;

/// One canned answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedReply {
    pub id: String,
    pub title: String,
    pub text: String,
    pub updated_by: String,
    pub updated_at: i64,
}

impl CannedReply {
    pub fn to_proto(&self) -> pb::CannedReply {
        pb::CannedReply {
            id: self.id.clone(),
            title: self.title.clone(),
            text: self.text.clone(),
            updated_by: self.updated_by.clone(),
            updated_at: Some(ts(self.updated_at)),
        }
    }
}

/// `value` when it has at most `max` characters.
fn within(field: &str, value: String, max: usize) -> Result<String, Invalid> {
    match value.chars().count() > max {
        true => Err(Invalid::new(field, format!("longer than {max} characters"))),
        false => Ok(value),
    }
}

impl ActivitiesService {
    /// Every canned answer, by title.
    pub async fn list_replies(&self) -> Result<Vec<CannedReply>> {
        let mut conn = self.db.pool().acquire().await?;
        let rows = sqlx::query("SELECT * FROM canned_replies ORDER BY title, id")
            .fetch_all(&mut *conn)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Adds a canned answer (`id` empty) or changes one.
    pub async fn save_reply(
        &self,
        ctx: &Ctx,
        id: &str,
        title: &str,
        text: &str,
    ) -> Result<CannedReply> {
        let reply = CannedReply {
            id: match id.trim() {
                "" => new_id(),
                id => id.to_owned(),
            },
            title: within("title", required_text("title", title)?, MAX_TITLE)?,
            text: within("text", required_body("text", text)?, MAX_TEXT)?,
            updated_by: ctx.actor.clone(),
            updated_at: now_millis(),
        };
        let mut tx = self.db.begin().await?;
        match id.trim() {
            "" => insert(&mut tx, &reply).await?,
            _ => update(&mut tx, &reply).await?,
        }
        tx.commit().await?;
        Ok(reply)
    }

    /// Removes a canned answer.
    pub async fn delete_reply(&self, id: &str) -> Result<()> {
        let mut conn = self.db.pool().acquire().await?;
        let gone = sqlx::query("DELETE FROM canned_replies WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        match gone.rows_affected() {
            0 => Err(ActivitiesError::not_found("canned answer", id)),
            _ => Ok(()),
        }
    }
}

fn from_row(row: &AnyRow) -> Result<CannedReply> {
    Ok(CannedReply {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        text: row.try_get("body")?,
        updated_by: row.try_get("updated_by")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Adds `r` unless the office keeps [`MAX_REPLIES`] already. The count and the insert
/// are one statement; two adds at the same instant on PostgreSQL may still pass the
/// limit by one, which is harmless: it keeps the inbox's list short, it guards
/// nothing.
async fn insert(conn: &mut AnyConnection, r: &CannedReply) -> Result<()> {
    let added = sqlx::query(
        "INSERT INTO canned_replies (id, title, body, updated_by, updated_at) \
         SELECT $1, $2, $3, $4, $5 \
         WHERE (SELECT COUNT(*) FROM canned_replies) < $6",
    )
    .bind(&r.id)
    .bind(&r.title)
    .bind(&r.text)
    .bind(&r.updated_by)
    .bind(r.updated_at)
    .bind(MAX_REPLIES)
    .execute(conn)
    .await?;
    match added.rows_affected() {
        0 => Err(ActivitiesError::FailedPrecondition(format!(
            "the office keeps {MAX_REPLIES} canned answers at most: remove one first"
        ))),
        _ => Ok(()),
    }
}

async fn update(conn: &mut AnyConnection, r: &CannedReply) -> Result<()> {
    let changed = sqlx::query(
        "UPDATE canned_replies SET title = $2, body = $3, updated_by = $4, updated_at = $5 \
         WHERE id = $1",
    )
    .bind(&r.id)
    .bind(&r.title)
    .bind(&r.text)
    .bind(&r.updated_by)
    .bind(r.updated_at)
    .execute(conn)
    .await?;
    match changed.rows_affected() {
        0 => Err(ActivitiesError::not_found("canned answer", &r.id)),
        _ => Ok(()),
    }
}
