//! What deals asks of contacts (does this company or contact exist), answered by the
//! same contacts directory activities uses: in process or over gRPC.

use std::sync::Arc;

use async_trait::async_trait;
use ringside_activities::directory::{Directory, Record};
use ringside_deals::{Parties, Party};

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
