//! Who notifications reaches, asked of staff through its gRPC client: the person at a
//! ringing extension, and where a person's alerts go. Who sits at an extension is kept
//! for 5 s (a ringing call should not wait for staff each time) and, when staff does
//! not answer, the last answer is used; an extension nobody had is asked again at
//! once, so a person just added gets their next call's card. A person's teams (for
//! who hears of their clients) are kept for 5 s the same way.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringside_kit::error::found;
use ringside_kit::peer::request;
use ringside_kit::{PeerChannel, PeerError};
use ringside_proto::staff::v1 as spb;
use ringside_proto::staff::v1::staff_client::StaffClient;

use tokio::sync::Mutex;

use crate::error::{NotificationsError, Result};

/// A person as alerts reach them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Person {
    pub id: String,
    pub alert_email: String,
    pub telegram_chat_id: String,
}

/// How long who sits at an extension is taken as known.
const FRESH_FOR: Duration = Duration::from_secs(5);
/// Most extensions remembered; past it the memory starts over.
const MAX_KNOWN: usize = 10_000;

/// People's teams by id, and when staff said them.
type Heard = HashMap<String, (Instant, Vec<String>)>;

/// The staff directory at the other end of a channel.
#[derive(Clone)]
pub struct Directory {
    staff: StaffClient<PeerChannel>,
    seats: Arc<Mutex<HashMap<String, (Instant, String)>>>,
    /// People's teams, as last heard.
    teams: Arc<Mutex<Heard>>,
}

fn unavailable(e: PeerError) -> NotificationsError {
    NotificationsError::Unavailable(format!("staff: {e}"))
}

impl Directory {
    pub fn new(staff: PeerChannel) -> Self {
        Directory {
            staff: StaffClient::new(staff),
            seats: Arc::default(),
            teams: Arc::default(),
        }
    }

    /// The teams of person `id` (as staff said at most 5 s ago); none for someone
    /// staff does not know. While staff does not answer, what it said last (kept
    /// another 5 s, so it is not asked at every event), else none: then only the
    /// person and those who see everyone hear of their clients.
    pub async fn teams_of(&self, id: &str) -> Vec<String> {
        let known = self.teams.lock().await.get(id).cloned();
        if let Some((at, teams)) = &known
            && at.elapsed() < FRESH_FOR
        {
            return teams.clone();
        }
        let req = request(spb::GetUserRequest { id: id.to_owned() }, "");
        let teams = match found(self.staff.clone().get_user(req).await) {
            Ok(user) => user
                .and_then(|u| u.details)
                .map(|d| d.team_ids)
                .unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "staff did not say a person's teams; the last known are used");
                known.map(|(_, teams)| teams).unwrap_or_default()
            }
        };
        let mut heard = self.teams.lock().await;
        if heard.len() >= MAX_KNOWN {
            heard.clear();
        }
        heard.insert(id.to_owned(), (Instant::now(), teams.clone()));
        teams
    }

    /// The id of the active person at `extension`, if anyone sits there.
    pub async fn at_extension(&self, extension: &str) -> Result<Option<String>> {
        let known = self.seats.lock().await.get(extension).cloned();
        if let Some((at, id)) = &known
            && at.elapsed() < FRESH_FOR
        {
            return Ok(Some(id.clone()));
        }
        let by = spb::find_user_request::By::Extension(extension.to_owned());
        let req = request(spb::FindUserRequest { by: Some(by) }, "");
        let user = match found(self.staff.clone().find_user(req).await) {
            Ok(user) => user,
            Err(e) => match known {
                Some((_, id)) => {
                    tracing::warn!(error = %e, "staff did not answer; the last known seat is used");
                    return Ok(Some(id));
                }
                None => return Err(unavailable(e)),
            },
        };
        let mut seats = self.seats.lock().await;
        if seats.len() >= MAX_KNOWN {
            seats.clear();
        }
        match &user {
            Some(u) => seats.insert(extension.to_owned(), (Instant::now(), u.id.clone())),
            None => seats.remove(extension),
        };
        Ok(user.map(|u| u.id))
    }

    /// Where the active person `id`'s alerts go; `None` for someone staff does not
    /// know or who was deactivated.
    pub async fn person(&self, id: &str) -> Result<Option<Person>> {
        let req = request(spb::GetUserRequest { id: id.to_owned() }, "");
        let user = found(self.staff.clone().get_user(req).await).map_err(unavailable)?;
        Ok(user.filter(|u| u.active).map(|u| {
            let details = u.details.unwrap_or_default();
            Person {
                id: u.id,
                alert_email: details.alert_email,
                telegram_chat_id: details.telegram_chat_id,
            }
        }))
    }
}
