//! What one service asks of another when both run in this process: deals asks the
//! contacts directory whether a company or contact exists, and activities asks the
//! notifications agents directory who sits at an extension.

use std::sync::Arc;

use async_trait::async_trait;
use ringside_activities::directory::{AgentLookup, Directory, Record};
use ringside_deals::{Parties, Party};
use ringside_notifications::agents::Agents;

pub struct ContactsParties(pub Arc<dyn Directory>);

#[async_trait]
impl Parties for ContactsParties {
    async fn exists(&self, party: Party, id: &str) -> Result<bool, String> {
        let record = match party {
            Party::Contact => Record::Contact,
            Party::Company => Record::Company,
        };
        self.0.exists(record, id).await.map_err(|e| e.to_string())
    }
}

pub struct LocalAgents(pub Agents);

#[async_trait]
impl AgentLookup for LocalAgents {
    async fn agent_at(&self, extension: &str) -> Result<Option<String>, String> {
        self.0
            .at_extension(extension)
            .await
            .map_err(|e| e.to_string())
    }
}
