//! Who notifications reaches, asked of staff through its gRPC client: the person at a
//! ringing extension, and where a person's alerts go. Nothing is copied here, so a
//! change in staff holds from the next call on.

use ringside_kit::error::found;
use ringside_kit::peer::request;
use ringside_kit::{PeerChannel, PeerError};
use ringside_proto::staff::v1 as spb;
use ringside_proto::staff::v1::staff_client::StaffClient;

use crate::error::{NotificationsError, Result};

/// A person as alerts reach them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Person {
    pub id: String,
    pub alert_email: String,
    pub telegram_chat_id: String,
}

/// The staff directory at the other end of a channel.
#[derive(Clone)]
pub struct Directory {
    staff: StaffClient<PeerChannel>,
}

fn unavailable(e: PeerError) -> NotificationsError {
    NotificationsError::Unavailable(format!("staff: {e}"))
}

impl Directory {
    pub fn new(staff: PeerChannel) -> Self {
        Directory {
            staff: StaffClient::new(staff),
        }
    }

    /// The id of the active person at `extension`, if anyone sits there.
    pub async fn at_extension(&self, extension: &str) -> Result<Option<String>> {
        let by = spb::find_user_request::By::Extension(extension.to_owned());
        let req = request(spb::FindUserRequest { by: Some(by) }, "");
        let user = found(self.staff.clone().find_user(req).await).map_err(unavailable)?;
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
