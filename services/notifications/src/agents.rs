//! Agents: the users notifications reaches, with their role, team, SIP extensions,
//! email and Telegram chat. One agent per extension; an agent may have several.

use ringside_identity::{EmailAddress, Invalid, fields, optional_text, required_text};
use ringside_storage::{Db, Row, now_millis};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

use crate::error::{NotificationsError, Result};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub role: String,
    pub team: String,
    pub extensions: Vec<String>,
    pub email: String,
    pub telegram_chat_id: String,
}

impl Agent {
    /// Checks and normalizes every field.
    pub fn validated(self) -> Result<Agent, Invalid> {
        let id = required_text("id", &self.id)?;
        if id.len() > 64 || id.contains(char::is_whitespace) {
            return Err(Invalid::new("id", "not a user id"));
        }
        let role = match self.role.trim() {
            "" => "agent".to_owned(),
            r @ ("agent" | "manager" | "admin") => r.to_owned(),
            _ => return Err(Invalid::new("role", "agent, manager or admin")),
        };
        let email = match self.email.trim() {
            "" => String::new(),
            e => EmailAddress::parse(e)?.as_str().to_owned(),
        };
        let chat = fields::telegram_chat_id("telegram_chat_id", &self.telegram_chat_id)?;
        Ok(Agent {
            id,
            name: required_text("name", &self.name)?,
            role,
            team: optional_text("team", &self.team)?,
            extensions: fields::extensions("extensions", &self.extensions)?,
            email,
            telegram_chat_id: chat,
        })
    }
}

fn agent_from_row(row: &AnyRow) -> Result<Agent> {
    Ok(Agent {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        team: row.try_get("team")?,
        extensions: Vec::new(),
        email: row.try_get("email")?,
        telegram_chat_id: row.try_get("telegram_chat_id")?,
    })
}

async fn load_extensions(conn: &mut AnyConnection, agent: &mut Agent) -> Result<()> {
    agent.extensions = sqlx::query_scalar(
        "SELECT extension FROM agent_extensions WHERE agent_id = $1 ORDER BY extension",
    )
    .bind(&agent.id)
    .fetch_all(conn)
    .await?;
    Ok(())
}

/// Which agent sits at which extension, as this process last read it.
type ExtensionMap = std::collections::HashMap<String, String>;

/// The agents directory. The extension map is read once and kept in memory (a ringing
/// call asks it first); every change made through this directory drops it, and
/// notifications runs as one replica, so the copy is never stale.
#[derive(Clone)]
pub struct Agents {
    db: Db,
    extensions: std::sync::Arc<tokio::sync::RwLock<Option<ExtensionMap>>>,
}

impl Agents {
    pub fn new(db: Db) -> Self {
        Agents {
            db,
            extensions: Default::default(),
        }
    }

    /// Creates or replaces an agent; fails when an extension belongs to another agent.
    pub async fn upsert(&self, agent: Agent) -> Result<Agent> {
        let agent = agent.validated()?;
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO agents (id, name, role, team, email, telegram_chat_id, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             ON CONFLICT (id) DO UPDATE SET name = $2, role = $3, team = $4, email = $5, \
             telegram_chat_id = $6, updated_at = $7",
        )
        .bind(&agent.id)
        .bind(&agent.name)
        .bind(&agent.role)
        .bind(&agent.team)
        .bind(&agent.email)
        .bind(&agent.telegram_chat_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM agent_extensions WHERE agent_id = $1")
            .bind(&agent.id)
            .execute(&mut *tx)
            .await?;
        for ext in &agent.extensions {
            if let Some(holder) = self.holder(&mut tx, ext).await? {
                return Err(NotificationsError::Conflict(format!(
                    "extension {ext} belongs to agent {holder}"
                )));
            }
            sqlx::query("INSERT INTO agent_extensions (extension, agent_id) VALUES ($1, $2)")
                .bind(ext)
                .bind(&agent.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        *self.extensions.write().await = None;
        Ok(agent)
    }

    async fn holder(&self, conn: &mut AnyConnection, ext: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT agent_id FROM agent_extensions WHERE extension = $1")
                .bind(ext)
                .fetch_optional(conn)
                .await?,
        )
    }

    pub async fn get(&self, id: &str) -> Result<Agent> {
        let mut conn = self.db.pool().acquire().await?;
        let row = sqlx::query("SELECT * FROM agents WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| NotificationsError::not_found("agent", id))?;
        let mut agent = agent_from_row(&row)?;
        load_extensions(&mut conn, &mut agent).await?;
        Ok(agent)
    }

    pub async fn list(&self, team: Option<&str>) -> Result<Vec<Agent>> {
        let mut conn = self.db.pool().acquire().await?;
        let rows = sqlx::query("SELECT * FROM agents WHERE ($1 = '' OR team = $1) ORDER BY id")
            .bind(team.unwrap_or(""))
            .fetch_all(&mut *conn)
            .await?;
        let mut agents = rows
            .iter()
            .map(agent_from_row)
            .collect::<Result<Vec<_>>>()?;
        for agent in &mut agents {
            load_extensions(&mut conn, agent).await?;
        }
        Ok(agents)
    }

    pub async fn delete(&self, id: &str) -> Result<Agent> {
        let agent = self.get(id).await?;
        let mut tx = self.db.begin().await?;
        for sql in [
            "DELETE FROM agent_extensions WHERE agent_id = $1",
            "DELETE FROM agents WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        *self.extensions.write().await = None;
        Ok(agent)
    }

    /// The agent at `extension`, if any.
    pub async fn at_extension(&self, extension: &str) -> Result<Option<String>> {
        if let Some(map) = self.extensions.read().await.as_ref() {
            return Ok(map.get(extension).cloned());
        }
        let mut cached = self.extensions.write().await;
        if cached.is_none() {
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT extension, agent_id FROM agent_extensions")
                    .fetch_all(self.db.pool())
                    .await?;
            *cached = Some(rows.into_iter().collect());
        }
        Ok(cached.as_ref().and_then(|m| m.get(extension).cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, extensions: &[&str]) -> Agent {
        Agent {
            id: id.into(),
            name: id.into(),
            role: String::new(),
            team: String::new(),
            extensions: extensions.iter().map(|e| (*e).to_owned()).collect(),
            email: String::new(),
            telegram_chat_id: String::new(),
        }
    }

    #[tokio::test]
    async fn the_extension_map_follows_every_change() {
        let t = ringside_storage::testing::sqlite().await;
        let agents = Agents::new(t.db.clone());
        assert_eq!(agents.at_extension("101").await.unwrap(), None);
        agents.upsert(agent("olga", &["101"])).await.unwrap();
        assert_eq!(
            agents.at_extension("101").await.unwrap().as_deref(),
            Some("olga")
        );
        // 101 moves from Olga to Ivan: the next ring finds Ivan.
        agents.upsert(agent("olga", &["103"])).await.unwrap();
        agents.upsert(agent("ivan", &["101"])).await.unwrap();
        assert_eq!(
            agents.at_extension("101").await.unwrap().as_deref(),
            Some("ivan")
        );
        assert_eq!(
            agents.at_extension("103").await.unwrap().as_deref(),
            Some("olga")
        );
        agents.delete("ivan").await.unwrap();
        assert_eq!(agents.at_extension("101").await.unwrap(), None);
    }
}
